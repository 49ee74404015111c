"""Recovery codes: ten single-use codes that stand in for the authenticator app.

A patient who sets up an authenticator gets ten codes, shown once; each signs in once
in place of the app's code (after the first factor, never instead of it). Making new
ones voids the old ones. Every making and use is audited.

Why an HMAC and not Django's password hashers: a code is 10 characters drawn by a CSPRNG
from a 32-letter alphabet (50 bits). A slow hash protects low-entropy secrets people
choose; against 2^50 random guesses it adds little, while checking a typed code against
ten PBKDF2 hashes would cost seconds per try. An HMAC keyed by the server's secret
(``salted_hmac``, as the one time passcodes use) means a copy of the database alone
cannot test guesses, and lets one indexed lookup find the code under a row lock, so a
code is used once even by two tabs at the same moment. Wrong codes count against the
account like a wrong authenticator code (locks).
"""

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from patients.authenticator import AuthenticatorProof
from patients.locks import (
    first_lock,
    locked_until,
    locks_for_update,
    record_failure,
    record_success,
    subject_for_user,
)
from patients.models import RecoveryCode
from patients.passcodes import Proof, ProofResult
from portal.audit.services import audit_record

CODES = 10
# Crockford's base 32: no I, L, O or U, so nothing is mistaken for 1, 0 or V.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})


class RecoveryCodeProof(AuthenticatorProof):
    """This flow typed one of ``user_id``'s unused recovery codes: it passes the second
    factor as the authenticator's code would."""


def normalise(code: str) -> str:
    """What the person typed, as stored: case, spaces and dashes do not matter."""
    text = "".join(ch for ch in (code or "").upper() if ch not in " -\t")
    return text.translate(_CONFUSABLE)


def _digest(user_id: int, code: str) -> str:
    return salted_hmac(
        "patients.recovery.code", f"{user_id}:{normalise(code)}", algorithm="sha256"
    ).hexdigest()


def shown(code: str) -> str:
    """A code as shown to the patient: two groups of five."""
    return f"{code[:5]}-{code[5:]}"


@transaction.atomic
def recovery_codes_generate(*, request, user) -> list[str]:
    """Ten new codes for ``user`` (whose authenticator is set up); any earlier ones stop
    working. Returns the codes: the only time they exist in clear."""
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(CODES)]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, digest=_digest(user.pk, code)) for code in codes
    )
    audit_record(action="recovery_codes.generated", request=request, actor=user)
    return [shown(code) for code in codes]


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def recovery_codes_forget(user) -> None:
    """The authenticator is gone: its recovery codes go with it."""
    RecoveryCode.objects.filter(user=user).delete()


def recovery_code_verify(*, request, user, code: str) -> ProofResult:
    """Use one of ``user``'s recovery codes (single use, under a row lock). A wrong
    code counts against the account, as a wrong authenticator code does."""
    clinic = user.clinic
    subject = (subject_for_user(user), user)
    with transaction.atomic():
        locks = locks_for_update(clinic, [subject])
        locked, retry = first_lock(locks)
        if locked:
            return ProofResult(Proof.LOCKED, retry)
        match = (
            RecoveryCode.objects.select_for_update()
            .filter(user=user, digest=_digest(user.pk, code), used_at__isnull=True)
            .first()
        )
        if match is not None:
            match.used_at = timezone.now()
            match.save(update_fields=["used_at"])
            record_success(locks)
            audit_record(action="recovery_code.used", request=request, actor=user)
            return ProofResult(Proof.OK, proof=RecoveryCodeProof(user.pk))
        record_failure(locks, request=request, clinic=clinic, method="recovery_code", user=user)
        audit_record(
            action="signin.failed",
            request=request,
            clinic=clinic,
            actor=user,
            details={"method": "recovery_code"},
        )
    retry = locked_until(clinic=clinic, subjects=[subject[0]])
    return ProofResult(Proof.LOCKED, retry) if retry else ProofResult(Proof.WRONG)
