"""Portal accounts and their sign-in contacts.

The model (README, "Identity"): an account's sign-in contacts (``User.email`` and
``User.phone``) are the ones its holder proved, stored canonical and unique per clinic
(the database enforces it). A chart's email and mobile are the clinic's record of the
patient and sign nobody in. Only the account holder changes their sign-in contacts,
with a code sent to the new one (and their authenticator when enrolled), either on the
Account page or through a proven change of their own chart's contact that staff accept.
"""

import uuid

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import IntegrityError, transaction

from clinics.models import User
from patients.authenticator import totp_device_for, totp_forget_unconfirmed
from patients.models import PatientAccess
from patients.passcodes import ContactProof, SendRefused, send_allowed
from portal.audit.services import audit_record
from portal.core.identifiers import InvalidIdentifier, canonical_email, canonical_mobile
from portal.notifications.services import notify

CONTACT_FIELDS = {"email": "email", "sms": "phone"}


def account_for_contact(*, clinic, channel: str, destination: str) -> User | None:
    """The portal account whose sign-in contact is ``destination`` (canonical), by exact
    equality on the stored canonical column."""
    field = CONTACT_FIELDS[channel]
    return (
        User.objects.filter(clinic=clinic, is_staff=False, **{field: destination})
        .exclude(**{field: ""})
        .first()
    )


def contact_in_use(*, clinic, channel: str, destination: str, exclude=None) -> bool:
    """Whether any account of the clinic (staff included) has this sign-in contact."""
    field = CONTACT_FIELDS[channel]
    users = User.objects.filter(clinic=clinic, **{field: destination})
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return users.exists()


def login_as_contact(*, clinic, login: str) -> tuple[str, str] | None:
    """(channel, canonical destination) for what someone typed in "Email or Phone"."""
    login = (login or "").strip()
    try:
        if "@" in login:
            return "email", canonical_email(login)
        return "sms", canonical_mobile(login, clinic.country)
    except InvalidIdentifier:
        return None


def account_for_login(*, clinic, login: str) -> User | None:
    """The portal account whose email or mobile is ``login`` (any spelling of it)."""
    contact = login_as_contact(clinic=clinic, login=login)
    if contact is None:
        return None
    return account_for_contact(clinic=clinic, channel=contact[0], destination=contact[1])


def holds_contact(user, proof: ContactProof) -> bool:
    """Whether ``proof`` proved one of ``user``'s sign-in contacts."""
    if proof.clinic_id != user.clinic_id or not proof.destination:
        return False
    return str(getattr(user, CONTACT_FIELDS[proof.channel]) or "") == proof.destination


def account_create(*, clinic, proof: ContactProof, first_name="", last_name="", password=None):
    """A new portal account whose one sign-in contact is the proven destination.

    Raises IntegrityError when an account of the clinic already has that contact (the
    database's unique constraint decides, also between concurrent requests).
    """
    if proof.clinic_id != clinic.pk:
        raise ValueError("a proof from another clinic")
    user = User(
        clinic=clinic,
        username=f"p-{uuid.uuid4().hex[:20]}",
        first_name=first_name,
        last_name=last_name,
    )
    setattr(user, CONTACT_FIELDS[proof.channel], proof.destination)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    with transaction.atomic():
        user.save()
    return user


class ContactTaken(Exception):  # noqa: N818 - the condition the holder is told about
    """Another account of the clinic signs in with this contact."""


def account_contact_set(*, request, user, proof: ContactProof, reason: str) -> None:
    """Make the proven destination ``user``'s sign-in contact for its channel.

    The old contact stops signing in and stops receiving reset links at once. The
    caller has checked that the account holder asked for it (``reason`` says how).
    Raises ContactTaken when another account has it.
    """
    if proof.clinic_id != user.clinic_id:
        raise ValueError("a proof from another clinic")
    field = CONTACT_FIELDS[proof.channel]
    try:
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=user.pk)
            if str(getattr(locked, field) or "") == proof.destination:
                return
            if contact_in_use(
                clinic=locked.clinic,
                channel=proof.channel,
                destination=proof.destination,
                exclude=locked,
            ):
                raise ContactTaken
            setattr(locked, field, proof.destination)
            locked.save(update_fields=[field])
            audit_record(
                action="account.contact_changed",
                request=request,
                clinic=locked.clinic,
                actor=locked,
                details={"channel": proof.channel, "reason": reason},
            )
    except IntegrityError as exc:
        raise ContactTaken from exc
    setattr(user, field, proof.destination)


class ResetTokenGenerator(PasswordResetTokenGenerator):
    """Reset links die when the password, the sign-in contacts or the sessions change:
    a link sent to a contact the account no longer has does not work."""

    key_salt = "patients.accounts.ResetTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return f"{super()._make_hash_value(user, timestamp)}{user.phone or ''}{user.session_epoch}"


reset_token_generator = ResetTokenGenerator()


class AuthenticatorNeeded(Exception):  # noqa: N818
    """The account has an authenticator and no current code of it was given."""


def account_contact_change(
    *, request, user, contact_proof: ContactProof, authenticator_proof=None
) -> None:
    """The account holder changes a sign-in contact on the Account page.

    Needs a code received at the new contact (``contact_proof``) and, when the account
    has an authenticator, a current code of it (AuthenticatorNeeded otherwise). Raises
    ContactTaken when another account has the contact.
    """
    if not request.user.is_authenticated or request.user.pk != user.pk:
        raise PermissionError("only the account holder changes their sign-in contacts")
    if (
        totp_device_for(user) is not None
        and getattr(authenticator_proof, "user_id", None) != user.pk
    ):
        raise AuthenticatorNeeded
    account_contact_set(request=request, user=user, proof=contact_proof, reason="account_page")


def account_set_password(*, request, user, password: str) -> None:
    """Set the password; every other session of the account ends."""
    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    totp_forget_unconfirmed(user)
    if request.user.is_authenticated and request.user.pk == user.pk:
        update_session_auth_hash(request, user)
    audit_record(action="password.changed", request=request, clinic=user.clinic, actor=user)


def password_reset_request(*, request, clinic, login: str) -> SendRefused | None:
    """Send a reset link to the account's sign-in contact, if an account has it.

    The send limit is keyed on the canonical contact whether or not an account has it,
    so the answers (and when they change) are the same either way; the caller shows
    the same message either way.
    """
    contact = login_as_contact(clinic=clinic, login=login)
    if contact is None:
        channel = "email" if "@" in login else "sms"
        return send_allowed(request, clinic=clinic, channel=channel, destination="invalid")
    channel, destination = contact
    refused = send_allowed(request, clinic=clinic, channel=channel, destination=destination)
    user = account_for_contact(clinic=clinic, channel=channel, destination=destination)
    if refused or user is None or not user.is_active:
        return refused
    notify(
        clinic=clinic,
        channel=channel,
        recipient=destination,
        template="password_reset",
        context={"user_id": user.pk},
        language=getattr(request, "LANGUAGE_CODE", "en"),
    )
    audit_record(action="password.reset_requested", request=request, clinic=clinic, actor=user)
    return None


def grant_self(clinic, user, patient) -> PatientAccess:
    """The account's live grant to the chart, or a new one as the patient themself."""
    grant = (
        PatientAccess.objects.for_clinic(clinic).active().filter(user=user, patient=patient).first()
    )
    return grant or PatientAccess.objects.create(
        clinic=clinic, user=user, patient=patient, relationship=PatientAccess.Relationship.SELF
    )


def grant_scopes_set(*, grant: PatientAccess, scopes: dict[str, bool], changed_by, request=None):
    """Staff set what a representative's grant covers (``scopes``: scope → granted, for
    any of ``PatientAccess.SCOPES``). Only a live grant of someone acting for another
    person (the patient's own grant covers everything); locked while written, audited
    with the scopes before and after (no health information). Returns the grant."""
    unknown = set(scopes) - set(PatientAccess.SCOPES)
    if unknown:
        raise ValueError(sorted(unknown))
    with transaction.atomic():
        locked = (
            PatientAccess.objects.for_clinic(grant.clinic_id)
            .select_for_update()
            .get(pk=grant.pk, revoked_at__isnull=True)
        )
        if not locked.acts_for_someone_else:
            raise ValueError("the patient's own grant covers every scope")
        fields = [f"can_{scope}" for scope in scopes]
        before = {scope: getattr(locked, f"can_{scope}") for scope in scopes}
        if before == scopes:
            return locked
        for scope, granted in scopes.items():
            setattr(locked, f"can_{scope}", bool(granted))
        locked.save(update_fields=fields)
        audit_record(
            action="access.scopes_changed",
            request=request,
            clinic=locked.clinic,
            actor=changed_by,
            obj=locked,
            acting_for=locked.patient,
            details={"before": before, "after": dict(scopes)},
        )
    return locked
