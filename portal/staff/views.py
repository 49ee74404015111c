import segno
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.core.http import no_store
from portal.staff import onboarding, services, two_factor
from portal.staff.access import admin_context, enrolment_page, needs_enrolment, staff_page
from portal.staff.forms import CodeForm, StaffInvitationAcceptForm, StaffPasswordChangeForm
from portal.staff.models import StaffInvitation
from portal.staff.sessions import admin_url


@staff_page
def security(request):
    user = request.user
    context = admin_context(request, _("Your sign-in"))
    context["authenticator"] = two_factor.authenticator_of(user)
    context["backup_codes_left"] = two_factor.backup_codes_left(user)
    return render(request, "staff/security.html", context)


@enrolment_page
def two_factor_setup(request):
    """Scan the QR code, type a code to confirm; the backup codes are shown once."""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.staff_totp_confirm(request=request, code=form.cleaned_data["code"])
        if codes is not None:
            return _show_backup_codes(request, codes)
        form.add_error("code", _("That code does not match. Type the code the app shows now."))
    device = two_factor.staff_totp_start(request=request)
    context = admin_context(request, _("Set up your authenticator app"))
    context.update(
        form=form,
        required=needs_enrolment(request),
        qr_svg=segno.make(device.config_url, error="m").svg_inline(
            scale=5, title=_("QR code for your authenticator app")
        ),
        secret=two_factor.secret_for_typing(device),
    )
    return render(request, "staff/two_factor_setup.html", context)


@require_POST
@staff_page
def backup_codes_regenerate(request):
    return _show_backup_codes(request, two_factor.staff_backup_codes_regenerate(request=request))


def _show_backup_codes(request, codes):
    context = admin_context(request, _("Your backup codes"))
    context["codes"] = codes
    return render(request, "staff/backup_codes.html", context)


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


SESSION_INVITATION_TOKEN = "staff_invitation_token"


def invitation_link(request, token):
    """Move the token out of the URL into the session (the next page carries none)."""
    request.session[SESSION_INVITATION_TOKEN] = token
    response = no_store(redirect("staff:invitation"))
    response["Referrer-Policy"] = "no-referrer"
    return response


def invitation(request):
    """Choose a password with a staff invitation; then sign in and set up an
    authenticator. Only on the host of the invitation's clinic."""
    token = request.session.get(SESSION_INVITATION_TOKEN, "")
    invite = onboarding.staff_invitation_for_token(
        clinic=getattr(request, "clinic", None), token=token
    )
    if invite is None or invite.state() != StaffInvitation.State.VALID:
        request.session.pop(SESSION_INVITATION_TOKEN, None)
        context = admin_context(request, _("This invitation cannot be used"))
        context["state"] = invite.state() if invite else None
        return no_store(render(request, "staff/invitation_unusable.html", context, status=410))
    form = StaffInvitationAcceptForm(invite, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = onboarding.staff_invitation_accept(
                invitation=invite, password=form.cleaned_data["new_password1"], request=request
            )
        except onboarding.InvitationUnusable:
            return redirect("staff:invitation")
        except onboarding.AccountExists:
            form.add_error(None, _("An account with this username or email was made meanwhile."))
        else:
            if request.user.is_authenticated:
                logout(request)  # someone else's session on this browser
            request.session.pop(SESSION_INVITATION_TOKEN, None)
            messages.success(
                request,
                _(
                    "Your password is set. Sign in as %(username)s, then set up your "
                    "authenticator app."
                )
                % {"username": user.username},
            )
            return no_store(redirect(admin_url(request, "login")))
    context = admin_context(request, _("Choose your password"))
    context.update(form=form, invite=invite)
    return no_store(render(request, "staff/invitation_accept.html", context))
