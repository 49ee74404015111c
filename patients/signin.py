"""Sign-in completion: the one function that starts a portal session.

Every way in (ID + contact + passcode, password, authenticator, invitation acceptance,
self-registration, a staff-accepted identity confirmation followed by a passcode)
gathers proofs and hands them to ``signin_complete``. It starts a session for an
account only when

- a proof of the first factor names this account: a code received at one of its
  sign-in contacts (``ContactProof``, canonical destination, exact equality) or its
  password (``PasswordProof``);
- the account is an active portal account of this clinic and is not locked;
- the chart it signs in for (if named) is not revoked and is eligible for the portal;
- its authenticator passed in this flow (``AuthenticatorProof``) when it has one;

and then it rotates the session key, keeps what the session needs and records the
audit event. When the account has an authenticator and no code of it was given, the
proofs wait in the session (5 minutes) for the authenticator step. When the clinic
requires an authenticator and the account has none, the session reaches only the
authenticator set-up until one is added.

Nothing else in the portal calls ``django.contrib.auth.login`` for a patient; a test
reads the project's code to keep it so.
"""

import enum
import time
from dataclasses import asdict, dataclass

from django.contrib.auth import login
from django.db import transaction
from django.utils import timezone

from clinics.models import User
from patients.accounts import account_for_login, holds_contact, login_as_contact
from patients.authenticator import AuthenticatorProof, totp_device_for
from patients.drafts import draft_forget_unless_for
from patients.locks import (
    account_locked,
    first_lock,
    locked_until,
    locks_for_update,
    record_failure,
    record_success,
    subject_for_source,
    subject_for_user,
)
from patients.middleware import apply_portal_language
from patients.models import Patient
from patients.passcodes import ContactProof, Proof, ProofResult
from patients.recovery import RecoveryCodeProof
from patients.sessions import (
    SESSION_LANGUAGE,
    SESSION_LAST_SEEN,
    SESSION_MFA_ENROL_REQUIRED,
    SESSION_PATIENT,
    SESSION_SIGNED_IN_AT,
    authenticator_passed,
    chart_language,
)
from patients.terms import terms_remember_for_session
from portal.audit.services import audit_record

PENDING_AUTHENTICATOR = "portal_pending_mfa"
PENDING_FOR_SECONDS = 5 * 60


@dataclass(frozen=True)
class PasswordProof:
    """This flow typed ``user_id``'s password."""

    user_id: int


class Step(enum.Enum):
    SIGNED_IN = "signed_in"
    ENROL_AUTHENTICATOR = "enrol"  # signed in, but only the authenticator set-up opens
    NEEDS_AUTHENTICATOR = "authenticator"  # not signed in yet: the code is asked next
    LOCKED = "locked"
    REVOKED = "revoked"
    INELIGIBLE = "ineligible"
    REFUSED = "refused"  # the proofs do not name this account


@dataclass
class Completion:
    step: Step
    retry_at: object = None


def _first_factor(user, proofs) -> bool:
    for proof in proofs:
        if isinstance(proof, ContactProof) and holds_contact(user, proof):
            return True
        if isinstance(proof, PasswordProof) and proof.user_id == user.pk:
            return True
    return False


def _second_factor(user, proofs) -> bool:
    return any(isinstance(p, AuthenticatorProof) and p.user_id == user.pk for p in proofs)


def signin_complete(request, *, user, method: str, proofs, patient=None) -> Completion:
    """Start a portal session for ``user`` if ``proofs`` allow it (see the module doc).

    ``patient`` is the chart the sign-in was for (the session opens on it). Safe to call
    again with more proofs (the authenticator step does).
    """
    clinic = request.clinic
    if user is not None:
        user = User.objects.filter(pk=user.pk, clinic=clinic, is_staff=False).first()
    if user is None or not user.is_active or not _first_factor(user, proofs):
        return Completion(Step.REFUSED)
    retry = account_locked(user)
    if retry:
        return Completion(Step.LOCKED, retry)
    if patient is not None:
        patient = Patient.objects.for_clinic(clinic).select_related("category").get(pk=patient.pk)
        if patient.portal_revoked_at:
            return Completion(Step.REVOKED)
        if not patient.portal_eligible:
            return Completion(Step.INELIGIBLE)
    if totp_device_for(user) is not None and not _second_factor(user, proofs):
        request.session[PENDING_AUTHENTICATOR] = {
            "user": user.pk,
            "at": time.time(),
            "method": method,
            "patient": patient.pk if patient else None,
            "proofs": [_proof_to_session(p) for p in proofs],
        }
        return Completion(Step.NEEDS_AUTHENTICATOR)
    request.session.pop(PENDING_AUTHENTICATOR, None)
    if any(isinstance(p, RecoveryCodeProof) and p.user_id == user.pk for p in proofs):
        method = f"{method}+recovery_code"
    elif _second_factor(user, proofs):
        method = f"{method}+authenticator"
    _login(request, user=user, method=method, patient=patient)
    if _second_factor(user, proofs):
        authenticator_passed(request)
    if clinic.portal_settings.mfa_required and totp_device_for(user) is None:
        request.session[SESSION_MFA_ENROL_REQUIRED] = True
        return Completion(Step.ENROL_AUTHENTICATOR)
    return Completion(Step.SIGNED_IN)


def pending_authenticator(request) -> tuple[User, dict] | None:
    """The account waiting for its authenticator code in this session, if still fresh."""
    pending = request.session.get(PENDING_AUTHENTICATOR)
    if not pending or time.time() - pending["at"] > PENDING_FOR_SECONDS:
        request.session.pop(PENDING_AUTHENTICATOR, None)
        return None
    user = User.objects.filter(clinic=request.clinic, pk=pending["user"], is_staff=False).first()
    if user is None:
        request.session.pop(PENDING_AUTHENTICATOR, None)
        return None
    return user, pending


def signin_complete_pending(request, *, user, pending, authenticator_proof) -> Completion:
    """Finish a sign-in that waited for the authenticator, with its code's proof."""
    proofs = [_proof_from_session(p) for p in pending["proofs"]] + [authenticator_proof]
    patient = None
    if pending.get("patient"):
        patient = Patient.objects.for_clinic(request.clinic).filter(pk=pending["patient"]).first()
    return signin_complete(
        request, user=user, method=pending["method"], proofs=proofs, patient=patient
    )


_PROOF_TYPES = {"contact": ContactProof, "password": PasswordProof}


def _proof_to_session(proof) -> dict:
    kind = next(k for k, cls in _PROOF_TYPES.items() if isinstance(proof, cls))
    return {"kind": kind, **asdict(proof)}


def _proof_from_session(data: dict):
    data = dict(data)
    return _PROOF_TYPES[data.pop("kind")](**data)


def _login(request, *, user, method: str, patient=None) -> None:
    """Rotate the session key, keep what the session needs, record the sign-in.

    The session remembers the preferred language on the person's chart, which their
    pages use from now on unless they chose a language with the switch
    (``patients.middleware.PortalLanguageMiddleware`` states the whole rule).
    """
    login(request, user, backend="clinics.backends.ClinicBackend")
    draft_forget_unless_for(request, user)
    terms_remember_for_session(request, user)
    now = timezone.now().timestamp()
    request.session[SESSION_SIGNED_IN_AT] = now
    request.session[SESSION_LAST_SEEN] = now
    if patient is not None:
        request.session[SESSION_PATIENT] = patient.pk
    language = chart_language(user, patient)
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


# --- Password ------------------------------------------------------------------------


def password_signin(*, request, clinic, login: str, password: str):
    """Check email/mobile + password. Returns (user or None, ProofResult); on success the
    result carries a ``PasswordProof`` for ``signin_complete``.

    Failures count against the connection they came from, and against the account only
    when it has a password (so nobody can lock a patient out by guessing a password they
    never set). Unknown logins take the same path and time (a hash is still computed).
    """
    user = account_for_login(clinic=clinic, login=login)
    has_password = user is not None and user.is_active and user.has_usable_password()
    # Every guess costs its source; a guess at a password the account has costs the
    # account too. From one connection the answers are the same whether or not the
    # account exists or has a password (a cool-off after ten in a row either way).
    subjects = [(subject_for_source(clinic=clinic, request=request, what="password"), None)]
    if has_password:
        subjects.append((subject_for_user(user), user))
    with transaction.atomic():
        locks = locks_for_update(clinic, subjects)
        locked, retry = first_lock(locks)
        if locked:
            return None, ProofResult(Proof.LOCKED, retry)
        if has_password:
            ok = user.check_password(password)
        else:
            User().set_password(password)
            ok = False
        if ok:
            record_success(locks)
            return user, ProofResult(Proof.OK, proof=PasswordProof(user.pk))
        record_failure(
            locks,
            request=request,
            clinic=clinic,
            method="password",
            user=user if has_password else None,
        )
        audit_record(
            action="signin.failed",
            request=request,
            clinic=clinic,
            actor=user if has_password else None,
            details={"method": "password"},
        )
    retry = locked_until(clinic=clinic, subjects=[s for s, _ in subjects])
    return None, ProofResult(Proof.LOCKED, retry) if retry else ProofResult(Proof.WRONG)


__all__ = [
    "Completion",
    "PasswordProof",
    "Step",
    "login_as_contact",
    "password_signin",
    "pending_authenticator",
    "signin_complete",
    "signin_complete_pending",
]
