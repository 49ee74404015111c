"""Staff two-factor: an authenticator app (django-otp's TOTP device) the staff member
enrols themselves, and ten single-use backup codes (django-otp's static device).

Nobody else sees the secret: the QR code is shown only to the signed-in staff member,
on their own page. A clinic admin (an operator, for clinic admins) can only remove a
colleague's devices, which signs the colleague out; they enrol again at next sign-in.
"""

import base64

from django.db import transaction
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import User
from portal.audit.services import audit_record
from portal.staff.services import require_manager

BACKUP_CODE_COUNT = 10


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def authenticator_of(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


# The set-up of this session: its own secret until confirmed. A secret shown in another
# session (someone who had the password for a while) is never the one confirmed here.
SESSION_SETUP = "staff_totp_setup"


def staff_totp_start(*, request) -> TOTPDevice:
    """This session's authenticator being set up (unconfirmed; a new secret if the
    session has none yet)."""
    user = request.user
    device_id = request.session.get(SESSION_SETUP)
    device = (
        TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
        if device_id
        else None
    )
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
        request.session[SESSION_SETUP] = device.pk
    return device


def secret_for_typing(device: TOTPDevice) -> str:
    """The key as an authenticator app asks for it when the QR code cannot be scanned."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def staff_totp_confirm(*, request, code: str) -> list[str] | None:
    """Confirm the authenticator being set up with a current code of it.

    On success the new authenticator replaces any earlier one, ten new backup codes
    replace any earlier ones (returned here, to be shown once), this session counts as
    verified by the new authenticator, and the event is audited. None if the code is
    wrong (nothing changes).
    """
    user = request.user
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=request.session.get(SESSION_SETUP) or 0, user=user, confirmed=False)
            .first()
        )
        if device is None or not device.verify_token(code.replace(" ", "")):
            return None
        # Every other authenticator of the account ends: the earlier one and any set-up
        # started in another session.
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        request.session.pop(SESSION_SETUP, None)
        codes = _new_backup_codes(user)
        audit_record(action="staff.two_factor_enrolled", request=request, actor=user, obj=user)
    otp_login(request, device)
    return codes


def staff_backup_codes_regenerate(*, request) -> list[str]:
    """Ten new backup codes for the signed-in staff member; the old ones stop working.
    Audited. The codes are returned to be shown once."""
    user = request.user
    with transaction.atomic():
        codes = _new_backup_codes(user)
        audit_record(action="staff.backup_codes_regenerated", request=request, actor=user, obj=user)
    return codes


def _new_backup_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def staff_two_factor_reset(*, actor: User, member: User, request=None) -> None:
    """Remove ``member``'s authenticator and backup codes and sign them out everywhere;
    they set up a new authenticator at their next sign-in. Audited."""
    require_manager(actor, member)
    TOTPDevice.objects.filter(user=member).delete()
    StaticDevice.objects.filter(user=member).delete()
    member.end_all_sessions()
    audit_record(
        action="staff.two_factor_reset",
        clinic=member.clinic,
        actor=actor,
        request=request,
        obj=member,
    )
