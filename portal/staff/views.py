from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.staff import services
from portal.staff.access import admin_context, staff_page
from portal.staff.forms import StaffPasswordChangeForm
from portal.staff.sessions import admin_url


@staff_page
def security(request):
    return render(request, "staff/security.html", admin_context(request, _("Your sign-in")))


@require_POST
@staff_page
def sign_out_everywhere(request):
    services.staff_sign_out_everywhere(request=request)
    return redirect(admin_url(request, "login"))


@staff_page
def password_change(request):
    form = StaffPasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.staff_password_change(request=request, password=form.cleaned_data["new_password1"])
        messages.success(request, _("Your password was changed."))
        return redirect(admin_url(request, "index"))
    context = admin_context(request, _("Change your password"))
    context["form"] = form
    context["must_change"] = request.user.must_change_password
    return render(request, "staff/password.html", context)
