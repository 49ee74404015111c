"""The account's second factor: an authenticator app (django-otp's TOTP device)."""

from dataclasses import dataclass

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

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


@dataclass(frozen=True)
class AuthenticatorProof:
    """This flow typed a current code of ``user_id``'s authenticator."""

    user_id: int


def totp_device_for(user, *, confirmed=True):
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).first()


def totp_verify(*, request, user, code: str) -> ProofResult:
    """Check an authenticator code for ``user`` under a row lock (no code reuse).

    Wrong codes count against the account (it has this credential)."""
    clinic = user.clinic
    subject = (subject_for_user(user), user)
    with transaction.atomic():
        locks = locks_for_update(clinic, [subject])
        locked, retry = first_lock(locks)
        if locked:
            return ProofResult(Proof.LOCKED, retry)
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is not None and device.verify_token(code):
            record_success(locks)
            return ProofResult(Proof.OK, proof=AuthenticatorProof(user.pk))
        record_failure(locks, request=request, clinic=clinic, method="authenticator", user=user)
        audit_record(
            action="signin.failed",
            request=request,
            clinic=clinic,
            actor=user,
            details={"method": "authenticator"},
        )
    retry = locked_until(clinic=clinic, subjects=[subject[0]])
    return ProofResult(Proof.LOCKED, retry) if retry else ProofResult(Proof.WRONG)


def totp_enrol_start(*, user, device_id=None):
    """The unconfirmed authenticator this set-up shows as a QR code: the one whose id the
    caller kept (in its session) if it is still there, else a new one with a new secret.
    Each set-up has its own secret, so a secret one session saw cannot be the one
    another session confirms."""
    if device_id is not None:
        device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
        if device is not None:
            return device
    return TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)


def totp_enrol_confirm(*, request, user, device_id, code: str) -> bool:
    """Confirm the set-up's own device with a code from it; any other set-up ends."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=device_id, user=user, confirmed=False)
            .first()
        )
        if device is None or not device.verify_token(code):
            return False
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(action="authenticator.added", request=request, actor=user)
    return True


def totp_forget_unconfirmed(user) -> None:
    """End every set-up not finished (when the account signs out everywhere or changes
    its password: a secret seen in another session must not be confirmed later)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()


class AuthenticatorRequired(Exception):  # noqa: N818
    """The clinic requires an authenticator: the account's cannot be removed."""


def totp_remove(*, request, user, code: str) -> bool:
    if user.clinic.portal_settings.mfa_required:
        raise AuthenticatorRequired
    if totp_verify(request=request, user=user, code=code).outcome is not Proof.OK:
        return False
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()  # they stood in for this app
    audit_record(action="authenticator.removed", request=request, actor=user)
    return True
