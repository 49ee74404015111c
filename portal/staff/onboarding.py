"""Staff onboarding by invitation: nobody types another person's password.

A clinic admin invites staff of their own clinic (front desk or clinic admin); a platform
operator invites a clinic's clinic admins. The invited person follows the emailed link on
their clinic's host, chooses their own password and, at their first sign-in, must set up
an authenticator before any other admin page (``joined_by_invitation``).
Admin pages and forged POSTs alike go through these functions, which check who may act.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinics.models import Clinic, User
from clinics.roles import CLINIC_ADMIN, role_group
from portal.audit.services import audit_record
from portal.core.tokens import token_digest
from portal.notifications.services import notify
from portal.staff.models import StaffInvitation

STAFF_INVITATION_VALID_HOURS = 72


class AccountExists(Exception):  # noqa: N818 - the condition the inviter is told about
    """The clinic already has an account with this username or email."""


class InvitationUnusable(Exception):  # noqa: N818
    """The link is expired, used, replaced or revoked."""


def staff_may_invite(*, actor: User, clinic: Clinic, role: str) -> bool:
    """Whether ``actor`` may invite someone to ``clinic`` with ``role``.

    A platform operator may invite a clinic's clinic admins; a clinic admin may invite
    front-desk staff and clinic admins to their own clinic. Nobody else may invite.
    """
    if not actor.is_authenticated or not actor.is_active or role not in StaffInvitation.Role:
        return False
    if actor.is_platform_operator:
        return role == CLINIC_ADMIN
    return (
        actor.is_staff
        and actor.clinic_id is not None
        and actor.clinic_id == clinic.pk
        and actor.has_role(CLINIC_ADMIN)
    )


def _require_inviter(actor, clinic, role):
    if not staff_may_invite(actor=actor, clinic=clinic, role=role):
        raise PermissionDenied


def _account_exists(clinic: Clinic, *, username: str, email: str) -> bool:
    return (
        User.objects.for_clinic(clinic)
        .filter(Q(username__iexact=username) | Q(email=email))
        .exists()
    )


def staff_invitation_send(
    *,
    actor: User,
    clinic: Clinic,
    email: str,
    username: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    request=None,
) -> StaffInvitation:
    """Invite a new staff member: one email with a single-use link to the clinic's host.

    ``email`` is canonical (the form's field makes it so). An earlier invitation to the
    same address at the clinic that was not used stops working. PermissionDenied unless
    ``staff_may_invite``; AccountExists when the clinic has an account with the username
    or email. Atomic; the email goes out after commit. Audited.
    """
    _require_inviter(actor, clinic, role)
    if _account_exists(clinic, username=username, email=email):
        raise AccountExists
    now = timezone.now()
    with transaction.atomic():
        _pending(clinic).filter(email=email).update(superseded_at=now)
        invitation = StaffInvitation.objects.create(
            clinic=clinic,
            email=email,
            username=username,
            first_name=first_name,
            last_name=last_name,
            role=role,
            expires_at=now + timedelta(hours=STAFF_INVITATION_VALID_HOURS),
            sent_by=actor,
        )
        notify(
            clinic=clinic,
            channel="email",
            recipient=email,
            template="staff_invitation",
            context={"invitation_id": invitation.pk},
            language=getattr(request, "LANGUAGE_CODE", None) or "en",
        )
        audit_record(
            action="staff.invitation_sent",
            clinic=clinic,
            actor=actor,
            request=request,
            obj=invitation,
            details={"role": role},
        )
    return invitation


def _pending(clinic):
    return StaffInvitation.objects.for_clinic(clinic).filter(
        accepted_at__isnull=True, superseded_at__isnull=True, revoked_at__isnull=True
    )


def staff_invitation_resend(
    *, actor: User, invitation: StaffInvitation, request=None
) -> StaffInvitation:
    """Send the same invitation again with a new link and a new expiry (the old link
    stops working). Only for an invitation not used yet; the same checks as sending."""
    if invitation.accepted_at:
        raise InvitationUnusable(StaffInvitation.State.USED)
    return staff_invitation_send(
        actor=actor,
        clinic=invitation.clinic,
        email=invitation.email,
        username=invitation.username,
        role=invitation.role,
        first_name=invitation.first_name,
        last_name=invitation.last_name,
        request=request,
    )


@transaction.atomic
def staff_invitation_revoke(*, actor: User, invitation: StaffInvitation, request=None) -> bool:
    """Make the link stop working. Whoever may send such an invitation may revoke it.
    False (and nothing recorded) if it was already used or revoked. Audited."""
    _require_inviter(actor, invitation.clinic, invitation.role)
    invitation = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at or invitation.revoked_at:
        return False
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        action="staff.invitation_revoked",
        clinic=invitation.clinic,
        actor=actor,
        request=request,
        obj=invitation,
    )
    return True


def staff_invitation_for_token(*, clinic: Clinic | None, token: str) -> StaffInvitation | None:
    """The invitation of ``clinic`` (the request's host) with this token, of any state;
    None for an unknown token or another clinic's (the base domain has none)."""
    if not token or clinic is None:
        return None
    return StaffInvitation.objects.for_clinic(clinic).filter(token_hash=token_digest(token)).first()


def staff_invitation_accept(*, invitation: StaffInvitation, password: str, request=None) -> User:
    """Use the link once: make the staff account with the password its holder chose
    (already checked by the password validators) and the invited role.

    The invitation row is locked first, so of two concurrent uses one succeeds and the
    other gets InvitationUnusable; AccountExists when an account with the username or
    email was made meanwhile. The new account signs in on the admin's sign-in form and
    sets up an authenticator before anything else. Audited.
    """
    try:
        with transaction.atomic():
            invitation = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
            if invitation.state() != StaffInvitation.State.VALID:
                raise InvitationUnusable(invitation.state())
            clinic = invitation.clinic
            if _account_exists(clinic, username=invitation.username, email=invitation.email):
                raise AccountExists
            user = User(
                clinic=clinic,
                username=invitation.username,
                email=invitation.email,
                first_name=invitation.first_name,
                last_name=invitation.last_name,
                is_staff=True,
            )
            user.validate_staff_clinic()
            user.set_password(password)
            user.save()
            user.groups.add(role_group(invitation.role))
            invitation.accepted_at = timezone.now()
            invitation.accepted_by = user
            invitation.save(update_fields=["accepted_at", "accepted_by"])
            audit_record(
                action="staff.invitation_accepted",
                clinic=clinic,
                actor=user,
                request=request,
                obj=invitation,
                details={"role": invitation.role},
            )
    except IntegrityError as exc:
        raise AccountExists from exc
    return user


def joined_by_invitation(user: User) -> bool:
    """Whether the account was made from a staff invitation: such an account sets up an
    authenticator before it sees any admin page, even where the admin would let a
    password alone in (``portal.staff.access.needs_enrolment``)."""
    return StaffInvitation.objects.for_clinic(user.clinic_id).filter(accepted_by=user).exists()
