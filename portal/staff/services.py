"""What clinic admins and operators do to staff accounts' security, and the audit of
staff sign-in events. Admin actions and views call these; each checks who may act."""

from django.contrib.auth import logout, update_session_auth_hash
from django.core.exceptions import PermissionDenied
from django.db import transaction

from clinics.models import Clinic, User
from clinics.roles import CLINIC_ADMIN
from clinics.staff_signin import account_unlock, user_from_throttle_key
from portal.audit.services import audit_record


def staff_may_manage(*, actor: User, member: User) -> bool:
    """Whether ``actor`` may unlock, reset or sign out ``member``.

    A platform operator may, for any staff account (clinic admins are theirs to manage);
    a clinic admin may for the other staff of their own clinic who are not clinic admins.
    Nobody manages their own account this way.
    """
    if not actor.is_authenticated or actor.pk == member.pk or not member.is_staff:
        return False
    if actor.is_platform_operator:
        return True
    return (
        actor.is_staff
        and actor.clinic_id is not None
        and actor.clinic_id == member.clinic_id
        and actor.has_role(CLINIC_ADMIN)
        and not member.has_role(CLINIC_ADMIN)
    )


@transaction.atomic
def clinic_set_active(*, actor: User, clinic: Clinic, active: bool, request=None) -> bool:
    """Deactivate a clinic (its portal and admin stop answering; nothing is deleted) or
    reactivate it; audited. Only a platform operator may. False when it already was so."""
    if not actor.is_platform_operator:
        raise PermissionDenied
    clinic = Clinic.objects.select_for_update().get(pk=clinic.pk)
    if clinic.is_active == active:
        return False
    clinic.is_active = active
    clinic.save(update_fields=["is_active"])
    audit_record(
        action="clinic.reactivated" if active else "clinic.deactivated",
        clinic=clinic,
        actor=actor,
        request=request,
        obj=clinic,
    )
    return True


def require_manager(actor, member) -> None:
    """Raise PermissionDenied unless ``staff_may_manage``."""
    if not staff_may_manage(actor=actor, member=member):
        raise PermissionDenied


@transaction.atomic
def staff_signin_unlock(*, actor: User, member: User, request=None) -> None:
    """Lift ``member``'s sign-in lockout (their failed attempts are forgotten). Audited."""
    require_manager(actor, member)
    account_unlock(member)
    audit_record(
        action="staff.signin_unlocked",
        clinic=member.clinic,
        actor=actor,
        request=request,
        obj=member,
    )


@transaction.atomic
def staff_end_sessions(*, actor: User, member: User, request=None) -> None:
    """Sign ``member`` out on every device (a colleague's phone left signed in). Audited."""
    require_manager(actor, member)
    member.end_all_sessions()
    audit_record(
        action="staff.sessions_ended",
        clinic=member.clinic,
        actor=actor,
        request=request,
        obj=member,
    )


def staff_sign_out_everywhere(*, request) -> None:
    """The signed-in staff member signs out on every device, this one included. Audited."""
    user = request.user
    with transaction.atomic():
        user.end_all_sessions()
        audit_record(action="signout.all_devices", request=request, actor=user, obj=user)
    logout(request)


@transaction.atomic
def staff_password_change(*, request, password: str) -> None:
    """The signed-in staff member's new password (already validated by the form). Clears
    "must change password"; this session stays signed in, every other one ends. Audited."""
    user = request.user
    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    update_session_auth_hash(request, user)
    audit_record(action="password.changed", request=request, actor=user, obj=user)


def signin_lockout_record(sender, request, username, ip_address, **kwargs) -> None:
    """django-axes' ``user_locked_out``: audit the moment an account or a source is locked
    (tries while already locked are refused without a new event)."""
    if request is None or getattr(request, "axes_failures_since_start", None) is None:
        return
    clinic = getattr(request, "clinic", None)
    account = user_from_throttle_key(username, clinic)
    audit_record(
        action="staff.signin_locked",
        clinic=clinic,
        request=request,
        obj=account,
        details={"known_account": account is not None},
    )
