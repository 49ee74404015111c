"""Writes for charts, portal accounts and sign-in.

Sign-in by ID + contact + one-time passcode decides nothing about the chart until the
code has proven the contact: issuing and sending a code looks up no chart, so the
screens and their timing are the same for known and unknown IDs.
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from clinics.models import User
from patients.demographics import registration_request_create, verification_request_queue
from patients.home import forget_home_summary
from patients.models import (
    ChangeRequest,
    PasscodeDevice,
    Patient,
    PatientAccess,
    PatientIdentifier,
    SignInLock,
    VerificationRequest,
)
from portal.audit.services import audit_record
from portal.core.http import client_ip
from portal.core.ratelimit import limit_reached
from portal.notifications.services import notify

# --- Sign-in subjects and locks -------------------------------------------------------


def subject_for_identity(*, clinic, id_type: str, id_number: str, destination: str) -> str:
    """The lock subject of a pending registration: an HMAC, so no ID is stored in clear."""
    raw = f"{clinic.pk}|{id_type}|{PatientIdentifier.normalise(id_number)}|{destination.lower()}"
    return salted_hmac("patients.signin.subject", raw, algorithm="sha256").hexdigest()


def subject_for_user(user) -> str:
    return f"user:{user.pk}"


def _locks_for_update(clinic, subjects):
    """The lock rows for ``subjects``, created if missing, locked for this transaction."""
    for subject, user in subjects:
        SignInLock.objects.get_or_create(clinic=clinic, subject=subject, defaults={"user": user})
    names = [s for s, _ in subjects]
    return list(SignInLock.objects.select_for_update().filter(clinic=clinic, subject__in=names))


def locked_until(*, clinic, subjects) -> "timezone.datetime | None | bool":
    """None if none of ``subjects`` is locked; the retry time, or True for a hard lock."""
    now = timezone.now()
    result = None
    for lock in SignInLock.objects.filter(clinic=clinic, subject__in=subjects):
        if lock.hard_locked:
            return True
        if lock.locked_until and lock.locked_until > now:
            result = max(result, lock.locked_until) if result else lock.locked_until
    return result


def _record_failure(locks, *, request, clinic, user=None):
    """One more failure in a row for each subject; lock at 10, 20, …; hard-lock at 100."""
    now = timezone.now()
    for lock in locks:
        lock.failures += 1
        if lock.failures >= SignInLock.HARD_LOCK_AT:
            if not lock.hard_locked:
                lock.hard_locked = True
                audit_record(
                    action="signin.hard_locked",
                    request=request,
                    clinic=clinic,
                    obj=lock,
                    actor=user,
                    details={"failures": lock.failures},
                )
        elif lock.failures % SignInLock.COOL_OFF_EVERY == 0:
            lock.locked_until = now + SignInLock.COOL_OFF
            audit_record(
                action="signin.locked",
                request=request,
                clinic=clinic,
                obj=lock,
                actor=user,
                details={"failures": lock.failures},
            )
        lock.save(update_fields=["failures", "hard_locked", "locked_until", "updated_at"])


def _record_success(locks):
    for lock in locks:
        if lock.failures or lock.locked_until:
            lock.failures = 0
            lock.locked_until = None
            lock.save(update_fields=["failures", "locked_until", "updated_at"])


def signin_lock_unlock(*, lock: SignInLock, unlocked_by, request=None) -> None:
    """Staff clear a lock (cool-off or hard lock). Recorded in the audit log."""
    with transaction.atomic():
        lock = SignInLock.objects.select_for_update().get(pk=lock.pk)
        lock.failures = 0
        lock.locked_until = None
        lock.hard_locked = False
        lock.save(update_fields=["failures", "locked_until", "hard_locked", "updated_at"])
        audit_record(
            action="signin.unlocked",
            request=request,
            clinic=lock.clinic,
            actor=unlocked_by,
            obj=lock.user or lock,
        )


# --- One-time passcodes ----------------------------------------------------------------


class SendRefused(enum.Enum):
    TOO_SOON = "too_soon"
    DESTINATION_LIMIT = "destination_limit"
    IP_LIMIT = "ip_limit"
    CLINIC_LIMIT = "clinic_limit"
    CHANNEL_DISABLED = "channel_disabled"


def _send_allowed(request, *, clinic, channel, destination) -> SendRefused | None:
    portal = clinic.portal_settings
    if channel not in portal.enabled_channels():
        return SendRefused.CHANNEL_DISABLED
    checks = [
        (
            "otp-destination",
            destination.lower(),
            settings.PORTAL_OTP_SENDS_PER_DESTINATION,
            SendRefused.DESTINATION_LIMIT,
        ),
        ("otp-ip", client_ip(request), settings.PORTAL_OTP_SENDS_PER_IP, SendRefused.IP_LIMIT),
        ("otp-clinic", "all", settings.PORTAL_OTP_SENDS_PER_CLINIC, SendRefused.CLINIC_LIMIT),
    ]
    for name, key, rate, refusal in checks:
        if limit_reached(request, name=name, clinic=clinic, key=key, rate=rate):
            return refusal
    return None


def passcode_issue(
    *, request, clinic, purpose, channel, destination, user=None, flow=None
) -> tuple[PasscodeDevice | None, SendRefused | None]:
    """Create a passcode device for a pending sign-in and send it a code.

    The code itself is generated when the notification renders (inside the task), so
    it is never stored in clear, put in a task argument, or written to a log.
    """
    refused = _send_allowed(request, clinic=clinic, channel=channel, destination=destination)
    if refused:
        return None, refused
    with transaction.atomic():
        device = PasscodeDevice.objects.create(
            clinic=clinic,
            user=user,
            name=purpose,
            purpose=purpose,
            channel=channel,
            destination=destination,
            flow=flow or uuid.uuid4(),
            valid_until=timezone.now(),
        )
        _queue_code(device, request=request)
    return device, None


def passcode_resend(*, request, device: PasscodeDevice) -> SendRefused | None:
    """Send a new code for the same pending sign-in. Never resets any failure count."""
    wait = timedelta(seconds=settings.PORTAL_OTP_RESEND_AFTER_SECONDS)
    if device.last_sent_at and timezone.now() < device.last_sent_at + wait:
        return SendRefused.TOO_SOON
    refused = _send_allowed(
        request, clinic=device.clinic, channel=device.channel, destination=device.destination
    )
    if refused:
        return refused
    with transaction.atomic():
        device = PasscodeDevice.objects.select_for_update().get(pk=device.pk)
        _queue_code(device, request=request)
    return None


def _queue_code(device, *, request):
    device.sends += 1
    device.last_sent_at = timezone.now()
    device.save(update_fields=["sends", "last_sent_at"])
    notify(
        clinic=device.clinic,
        channel=device.channel,
        recipient=device.destination,
        template="passcode",
        context={"device_id": device.pk, "send": device.sends},
        language=getattr(request, "LANGUAGE_CODE", "en"),
    )


class Proof(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"


@dataclass
class ProofResult:
    outcome: Proof
    retry_at: object = None  # a datetime, or True for "until staff unlock"


def passcode_verify(*, request, clinic, device_id, flow, purpose, code, subjects) -> ProofResult:
    """Check a code under a row lock. Single use; 5 wrong tries kill the code.

    ``subjects`` are (subject, user) pairs whose consecutive failures are counted; a
    wrong code counts against each of them. A try against a dead, used or expired code
    cannot succeed, so it is refused without counting (otherwise anyone could run an
    account into its hard lock without ever being sent a code).
    """
    with transaction.atomic():
        device = (
            PasscodeDevice.objects.for_clinic(clinic)
            .select_for_update()
            .filter(pk=device_id, flow=flow, purpose=purpose)
            .select_related("clinic")
            .first()
        )
        if device is None:
            return ProofResult(Proof.EXPIRED)
        clinic = device.clinic
        locks = _locks_for_update(clinic, subjects)
        now = timezone.now()
        for lock in locks:
            if lock.is_locked(now):
                return ProofResult(Proof.LOCKED, True if lock.hard_locked else lock.locked_until)
        if device.code_matches(code):
            device.token = None
            device.valid_until = now
            device.save(update_fields=["token", "valid_until"])
            _record_success(locks)
            return ProofResult(Proof.OK)
        if not device.token or now >= device.valid_until:
            return ProofResult(Proof.EXPIRED)
        device.failed_tries += 1
        if device.failed_tries >= PasscodeDevice.MAX_CODE_TRIES:
            device.token = None
        device.save(update_fields=["failed_tries", "token"])
        _record_failure(locks, request=request, clinic=clinic, user=device.user)
        audit_record(
            action="signin.failed",
            request=request,
            clinic=clinic,
            actor=device.user,
            details={"method": "passcode"},
        )
        retry = locked_until(clinic=clinic, subjects=[s for s, _ in subjects])
        if retry:
            return ProofResult(Proof.LOCKED, retry)
        return ProofResult(Proof.EXPIRED if device.token is None else Proof.WRONG)


# --- Deciding what a proven contact leads to --------------------------------------------


class Outcome(enum.Enum):
    SIGNED_IN = "signed_in"
    REGISTER = "register"
    VERIFY = "verify"
    INELIGIBLE = "ineligible"
    REVOKED = "revoked"


@dataclass
class Resolution:
    outcome: Outcome
    user: User | None = None
    patient: Patient | None = None


def _contact_filter(channel, destination):
    return Q(email__iexact=destination) if channel == "email" else Q(phone=destination)


def _chart_has_contact(patient, channel, destination) -> bool:
    if channel == "email":
        return bool(patient.email) and patient.email.lower() == destination.lower()
    return bool(patient.mobile) and str(patient.mobile) == destination


def account_for_contact(*, clinic, channel, destination) -> User | None:
    return (
        User.objects.filter(clinic=clinic, is_staff=False)
        .filter(_contact_filter(channel, destination))
        .first()
    )


def _account_for(clinic, patient, channel, destination) -> User:
    """The portal account for a proven contact: the chart's own, the contact's, or new."""
    grant = (
        PatientAccess.objects.for_clinic(clinic)
        .active()
        .filter(patient=patient, relationship=PatientAccess.Relationship.SELF)
        .select_related("user")
        .first()
    )
    user = (
        grant.user
        if grant
        else account_for_contact(clinic=clinic, channel=channel, destination=destination)
    )
    if user is None:
        user = User(clinic=clinic, username=f"p-{uuid.uuid4().hex[:20]}")
        if patient is not None:
            user.first_name, user.last_name = patient.first_name, patient.last_name
        user.set_unusable_password()
    field = "email" if channel == "email" else "phone"
    if (
        not getattr(user, field)
        and not User.objects.filter(
            clinic=clinic, **{f"{field}__iexact" if field == "email" else field: destination}
        )
        .exclude(pk=user.pk)
        .exists()
    ):
        setattr(user, field, destination)
    user.save()
    return user


def _grant_self(clinic, user, patient) -> PatientAccess:
    grant = (
        PatientAccess.objects.for_clinic(clinic).active().filter(user=user, patient=patient).first()
    )
    return grant or PatientAccess.objects.create(
        clinic=clinic, user=user, patient=patient, relationship=PatientAccess.Relationship.SELF
    )


@transaction.atomic
def signin_resolve(*, request, clinic, id_type, id_number, channel, destination) -> Resolution:
    """After the code proved the contact: link, register, or ask staff to verify."""
    identifier = (
        PatientIdentifier.objects.for_clinic(clinic)
        .filter(id_type__code=id_type, number=PatientIdentifier.normalise(id_number))
        .select_related("patient__category")
        .first()
    )
    if identifier is None:
        return Resolution(Outcome.REGISTER)
    patient = identifier.patient
    contact_matches = _chart_has_contact(patient, channel, destination)
    user = account_for_contact(clinic=clinic, channel=channel, destination=destination)
    # A representative may sign in with the chart's ID and their own contact.
    represents = (
        user is not None
        and (
            PatientAccess.objects.for_clinic(clinic).active().filter(user=user, patient=patient)
        ).exists()
    )
    if contact_matches or represents:
        if patient.portal_revoked_at:
            return Resolution(Outcome.REVOKED, patient=patient)
        if not patient.portal_eligible:
            return Resolution(Outcome.INELIGIBLE, patient=patient)
        if represents:
            return Resolution(Outcome.SIGNED_IN, user=user, patient=patient)
        user = _account_for(clinic, patient, channel, destination)
        _grant_self(clinic, user, patient)
        return Resolution(Outcome.SIGNED_IN, user=user, patient=patient)
    if user is None:
        user = _account_for(clinic, None, channel, destination)
    try:
        with transaction.atomic():
            verification = VerificationRequest.objects.create(
                clinic=clinic,
                patient=patient,
                user=user,
                channel=channel,
                destination=destination,
            )
    except IntegrityError:
        # One is already pending for this person and chart.
        verification = VerificationRequest.objects.get(
            patient=patient, user=user, status=VerificationRequest.Status.PENDING
        )
    verification_request_queue(verification=verification)
    audit_record(
        action="verification.requested",
        request=request,
        clinic=clinic,
        actor=user,
        acting_for=patient,
    )
    return Resolution(Outcome.VERIFY, user=user)


@dataclass
class Registration:
    first_name: str
    last_name: str
    date_of_birth: object
    sex: str
    address_line1: str
    city: str
    region: str
    postal_code: str
    mobile: str
    email: str
    preferred_language: str


class AlreadyRegistered(Exception):
    """Another registration took this ID meanwhile."""


def patient_self_register(
    *, request, clinic, id_type, id_number, channel, destination, data: Registration
) -> Resolution:
    """Create a chart marked self-registered, pending verification, and its account."""
    from clinics.models import IdentifierType

    try:
        with transaction.atomic():
            patient = Patient.objects.create(
                clinic=clinic,
                status=Patient.Status.PENDING,
                self_registered=True,
                first_name=data.first_name,
                last_name=data.last_name,
                date_of_birth=data.date_of_birth,
                sex=data.sex,
                address_line1=data.address_line1,
                city=data.city,
                region=data.region,
                postal_code=data.postal_code,
                mobile=data.mobile or "",
                email=data.email or "",
                preferred_language=data.preferred_language,
            )
            PatientIdentifier.objects.create(
                clinic=clinic,
                patient=patient,
                id_type=IdentifierType.objects.for_clinic(clinic).get(code=id_type),
                number=id_number,
            )
            user = _account_for(clinic, patient, channel, destination)
            _grant_self(clinic, user, patient)
            registration_request_create(patient=patient, requested_by=user)
            audit_record(
                action="patient.self_registered",
                request=request,
                clinic=clinic,
                actor=user,
                obj=patient,
                acting_for=patient,
            )
    except IntegrityError as exc:
        raise AlreadyRegistered from exc
    return Resolution(Outcome.SIGNED_IN, user=user, patient=patient)


def _close_queue_entry(verification, decided_by):
    """Keep the Patient Requests queue in step when staff decide elsewhere."""
    closed = ChangeRequest.objects.filter(
        verification=verification, status=ChangeRequest.Status.PENDING
    ).update(
        status=(
            ChangeRequest.Status.ACCEPTED
            if verification.status == VerificationRequest.Status.ACCEPTED
            else ChangeRequest.Status.DECLINED
        ),
        decided_at=verification.decided_at,
        decided_by=decided_by,
    )
    if closed:
        forget_home_summary(clinic_id=verification.clinic_id, patient_id=verification.patient_id)


def _verification_decide(
    *, request, verification, decided_by, status
) -> VerificationRequest | None:
    """Record the decision once (row lock); None when someone already decided."""
    verification = VerificationRequest.objects.select_for_update().get(pk=verification.pk)
    if verification.status != VerificationRequest.Status.PENDING:
        return None
    verification.status = status
    verification.decided_at = timezone.now()
    verification.decided_by = decided_by
    verification.save(update_fields=["status", "decided_at", "decided_by"])
    _close_queue_entry(verification, decided_by)
    audit_record(
        action=f"verification.{status}",
        request=request,
        actor=decided_by,
        clinic=verification.clinic,
        acting_for=verification.patient,
        obj=verification,
    )
    return verification


@transaction.atomic
def verification_accept(*, request, verification: VerificationRequest, decided_by) -> bool:
    """Link the person's account to the chart. Returns False if already decided."""
    decided = _verification_decide(
        request=request,
        verification=verification,
        decided_by=decided_by,
        status=VerificationRequest.Status.ACCEPTED,
    )
    if decided is None:
        return False
    _grant_self(decided.clinic, decided.user, decided.patient)
    return True


@transaction.atomic
def verification_decline(*, request, verification: VerificationRequest, decided_by) -> bool:
    """Tell the person the clinic could not confirm them. Returns False if already decided."""
    decided = _verification_decide(
        request=request,
        verification=verification,
        decided_by=decided_by,
        status=VerificationRequest.Status.DECLINED,
    )
    if decided is None:
        return False
    notify(
        clinic=decided.clinic,
        channel=decided.channel,
        recipient=decided.destination,
        template="verification_declined",
        context={"verification_id": decided.pk},
        # The person gave this chart's ID; nothing else says which language they read.
        language=decided.patient.preferred_language,
    )
    return True


# --- Sessions ---------------------------------------------------------------------------

SESSION_SIGNED_IN_AT = "portal_signed_in_at"
SESSION_LAST_SEEN = "portal_last_seen"
SESSION_PATIENT = "portal_patient_id"
SESSION_LANGUAGE = "portal_language"


def portal_login(request, *, user, method: str, patient=None) -> None:
    """Start a portal session (new session key) and record the sign-in.

    The session remembers the preferred language on the person's chart, which their
    pages use from now on unless they chose a language with the switch
    (``patients.middleware.PortalLanguageMiddleware`` states the whole rule).
    """
    from django.contrib.auth import login

    from patients.middleware import apply_portal_language

    login(request, user, backend="clinics.backends.ClinicBackend")
    now = timezone.now().timestamp()
    request.session[SESSION_SIGNED_IN_AT] = now
    request.session[SESSION_LAST_SEEN] = now
    if patient is not None:
        request.session[SESSION_PATIENT] = patient.pk
    language = _chart_language(user, patient)
    if language:
        request.session[SESSION_LANGUAGE] = language
    # Messages added later in this request (e.g. "You are registered") use it too.
    apply_portal_language(request)
    audit_record(
        action="signin.success",
        request=request,
        clinic=user.clinic,
        actor=user,
        acting_for=patient,
        details={"method": method},
    )


def _chart_language(user, patient) -> str | None:
    """The preferred language on the account's own chart; for a representative without
    one, on the chart they signed in for (else the first they may act for)."""
    grants = list(
        PatientAccess.objects.for_clinic(user.clinic_id)
        .active()
        .filter(user=user)
        .select_related("patient")
        .order_by("created_at")
    )
    self_grant = PatientAccess.Relationship.SELF
    own = next((g.patient for g in grants if g.relationship == self_grant), None)
    chart = own or patient or (grants[0].patient if grants else None)
    return chart.preferred_language if chart is not None else None


def portal_logout(request, *, reason: str = "signout") -> None:
    from django.contrib.auth import logout

    user = request.user
    if user.is_authenticated:
        audit_record(action=f"signout.{reason}", request=request, actor=user)
    logout(request)


def account_end_all_sessions(*, request, user) -> None:
    """Sign out of every device, this one included."""
    user.end_all_sessions()
    audit_record(action="signout.all_devices", request=request, actor=user)


# --- Password and authenticator sign-in ------------------------------------------------


def account_for_login(*, clinic, login: str) -> User | None:
    """The portal account whose email or mobile is ``login``."""
    from patients.forms import normalise_mobile

    login = (login or "").strip()
    if "@" in login:
        return account_for_contact(clinic=clinic, channel="email", destination=login.lower())
    mobile = normalise_mobile(login, clinic.country)
    if mobile is None:
        return None
    return account_for_contact(clinic=clinic, channel="sms", destination=mobile)


def _login_subject(clinic, login, user):
    if user is not None:
        return (subject_for_user(user), user)
    raw = f"{clinic.pk}|login|{login.strip().lower()}"
    return (salted_hmac("patients.signin.subject", raw, algorithm="sha256").hexdigest(), None)


def password_signin(*, request, clinic, login: str, password: str):
    """Check email/mobile + password. Returns (user or None, ProofResult).

    Unknown logins take the same path and time (a hash is still computed) and are
    counted against a subject of their own, so responses do not reveal accounts.
    """
    user = account_for_login(clinic=clinic, login=login)
    subject = _login_subject(clinic, login, user)
    with transaction.atomic():
        locks = _locks_for_update(clinic, [subject])
        for lock in locks:
            if lock.is_locked():
                return None, ProofResult(
                    Proof.LOCKED, True if lock.hard_locked else lock.locked_until
                )
        if user is not None and user.is_active and user.has_usable_password():
            ok = user.check_password(password)
        else:
            User().set_password(password)
            ok = False
        if ok:
            _record_success(locks)
            return user, ProofResult(Proof.OK)
        _record_failure(locks, request=request, clinic=clinic, user=user)
        audit_record(
            action="signin.failed",
            request=request,
            clinic=clinic,
            actor=user,
            details={"method": "password"},
        )
    retry = locked_until(clinic=clinic, subjects=[subject[0]])
    return None, ProofResult(Proof.LOCKED, retry) if retry else ProofResult(Proof.WRONG)


def totp_device_for(user, *, confirmed=True):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).first()


def totp_verify(*, request, user, code: str) -> ProofResult:
    """Check an authenticator code for ``user`` under a row lock (no code reuse)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    clinic = user.clinic
    subject = (subject_for_user(user), user)
    with transaction.atomic():
        locks = _locks_for_update(clinic, [subject])
        for lock in locks:
            if lock.is_locked():
                return ProofResult(Proof.LOCKED, True if lock.hard_locked else lock.locked_until)
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is not None and device.verify_token(code):
            _record_success(locks)
            return ProofResult(Proof.OK)
        _record_failure(locks, request=request, clinic=clinic, user=user)
        audit_record(
            action="signin.failed",
            request=request,
            clinic=clinic,
            actor=user,
            details={"method": "authenticator"},
        )
    retry = locked_until(clinic=clinic, subjects=[subject[0]])
    return ProofResult(Proof.LOCKED, retry) if retry else ProofResult(Proof.WRONG)


def totp_enrol_start(*, user):
    """The user's unconfirmed authenticator (created if needed), to show as a QR code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)


def totp_enrol_confirm(*, request, user, code: str) -> bool:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None or not device.verify_token(code):
            return False
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(action="authenticator.added", request=request, actor=user)
    return True


def totp_remove(*, request, user, code: str) -> bool:
    if totp_verify(request=request, user=user, code=code).outcome is not Proof.OK:
        return False
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user=user).delete()
    audit_record(action="authenticator.removed", request=request, actor=user)
    return True


def account_set_password(*, request, user, password: str) -> None:
    """Set the password; every other session of the account ends."""
    from django.contrib.auth import update_session_auth_hash

    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    if request.user.is_authenticated and request.user.pk == user.pk:
        update_session_auth_hash(request, user)
    audit_record(action="password.changed", request=request, clinic=user.clinic, actor=user)


def password_reset_request(*, request, clinic, login: str) -> SendRefused | None:
    """Send a reset link to the account's email or mobile, if there is such an account.

    The caller shows the same message either way.
    """
    user = account_for_login(clinic=clinic, login=login)
    channel = "email" if "@" in login else "sms"
    destination = (user.email if channel == "email" else str(user.phone)) if user else login
    refused = _send_allowed(request, clinic=clinic, channel=channel, destination=destination)
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
