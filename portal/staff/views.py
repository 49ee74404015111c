from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.staff import services
from portal.staff.access import admin_context, staff_page
from portal.staff.sessions import admin_url


@staff_page
def security(request):
    return render(request, "staff/security.html", admin_context(request, _("Your sign-in")))


@require_POST
@staff_page
def sign_out_everywhere(request):
    services.staff_sign_out_everywhere(request=request)
    return redirect(admin_url(request, "login"))
