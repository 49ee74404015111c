"""What the portal's sign-in notifications render with. Codes and links are made here,
at send time, so they are never stored in clear or passed to a task."""

from django.conf import settings
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext_lazy as _

from clinics.models import User
from patients.accounts import reset_token_generator
from patients.models import PasscodeDevice
from portal.notifications.registry import Obsolete, register


@register("passcode", label=_("One time passcode"))
def passcode_context(notification):
    device = (
        PasscodeDevice.objects.for_clinic(notification.clinic)
        .filter(pk=notification.context["device_id"])
        .first()
    )
    if device is None or device.sends != notification.context.get("send"):
        raise Obsolete("a newer code was requested")
    minutes = notification.clinic.portal_settings.otp_validity_minutes
    return {"code": device.issue_code(valid_secs=minutes * 60), "minutes": minutes}


@register("password_reset", label=_("Password reset link"))
def password_reset_context(notification):
    user = User.objects.filter(
        clinic=notification.clinic, pk=notification.context["user_id"]
    ).first()
    if user is None or not user.is_active:
        raise Obsolete("the account is gone")
    if notification.recipient not in (user.email, str(user.phone or "")):
        raise Obsolete("the account no longer signs in with this contact")
    path = reverse(
        "portal:password-reset-link",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": reset_token_generator.make_token(user),
        },
        urlconf=settings.ROOT_URLCONF,
    )
    return {"link": notification.clinic.build_url(path)}


@register("verification_declined", label=_("Identity not confirmed"))
def verification_declined_context(notification):
    return {}


@register("request_decided", label=_("Patient Request decided"))
def request_decided_context(notification):
    return {}
