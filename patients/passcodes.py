"""One-time passcodes: issue, resend and verify, with send limits and locks.

Issuing and sending a code looks up no chart and no account, so the screens and their
timing are the same for known and unknown IDs. A code proves a destination: a verified
code returns a ``ContactProof`` that sign-in completion and contact changes accept.
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from patients.locks import locked_until, locks_for_update, record_failure, record_success
from patients.models import PasscodeDevice
from portal.audit.services import audit_record
from portal.core.http import client_ip
from portal.core.ratelimit import limit_reached
from portal.notifications.services import notify


class SendRefused(enum.Enum):
    TOO_SOON = "too_soon"
    DESTINATION_LIMIT = "destination_limit"
    IP_LIMIT = "ip_limit"
    CLINIC_LIMIT = "clinic_limit"
    CHANNEL_DISABLED = "channel_disabled"


def send_allowed(request, *, clinic, channel, destination) -> SendRefused | None:
    """The send limits for codes and reset links. ``destination`` is canonical (or, for a
    login that cannot be canonicalised, the stripped text): every spelling of one
    contact shares one limit whether or not an account has it."""
    portal = clinic.portal_settings
    if channel not in portal.enabled_channels():
        return SendRefused.CHANNEL_DISABLED
    checks = [
        (
            "otp-destination",
            f"{channel}:{destination}",
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
    """Create a passcode device for a pending proof and send it a code.

    ``destination`` must be canonical (``portal.core.identifiers``). The code itself is
    generated when the notification renders (inside the task), so it is never stored
    in clear, put in a task argument, or written to a log.
    """
    refused = send_allowed(request, clinic=clinic, channel=channel, destination=destination)
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
    """Send a new code for the same pending proof. Never resets any failure count."""
    wait = timedelta(seconds=settings.PORTAL_OTP_RESEND_AFTER_SECONDS)
    if device.last_sent_at and timezone.now() < device.last_sent_at + wait:
        return SendRefused.TOO_SOON
    refused = send_allowed(
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
    TOO_MANY_TRIES = "too_many_tries"  # five wrong tries ended this code
    LOCKED = "locked"


@dataclass(frozen=True)
class ContactProof:
    """This flow received a code at ``destination`` (canonical) and typed it back."""

    clinic_id: int
    channel: str
    destination: str


@dataclass
class ProofResult:
    outcome: Proof
    retry_at: object = None  # a datetime, or True for "until staff unlock"
    proof: object = None  # the proof object when outcome is OK


def passcode_verify(*, request, clinic, device_id, flow, purpose, code, subjects) -> ProofResult:
    """Check a code under a row lock. Single use; 5 wrong tries kill the code.

    ``subjects`` are (subject, user) pairs whose consecutive failures are counted; a
    wrong code counts against each of them. A try against a dead, used or expired code
    cannot succeed, so it is refused without counting (otherwise anyone could run an
    account into its hard lock without ever being sent a code). On success the result
    carries a ``ContactProof`` of the device's destination.
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
        locks = locks_for_update(clinic, subjects)
        now = timezone.now()
        for lock in locks:
            if lock.is_locked(now):
                return ProofResult(Proof.LOCKED, True if lock.hard_locked else lock.locked_until)
        if device.code_matches(code):
            device.token = None
            device.valid_until = now
            device.proven_at = now
            device.save(update_fields=["token", "valid_until", "proven_at"])
            record_success(locks)
            return ProofResult(
                Proof.OK,
                proof=ContactProof(clinic.pk, device.channel, device.destination),
            )
        if device.failed_tries >= PasscodeDevice.MAX_CODE_TRIES:
            return ProofResult(Proof.TOO_MANY_TRIES)
        if not device.token or now >= device.valid_until:
            return ProofResult(Proof.EXPIRED)
        device.failed_tries += 1
        if device.failed_tries >= PasscodeDevice.MAX_CODE_TRIES:
            device.token = None
        device.save(update_fields=["failed_tries", "token"])
        record_failure(locks, request=request, clinic=clinic, method="passcode", user=device.user)
        # A wrong code for a new sign-in contact is typed by the signed-in account holder:
        # it still counts towards the account's lock, but it is no failed sign-in.
        audit_record(
            action="signin.failed"
            if purpose == PasscodeDevice.Purpose.SIGN_IN
            else "account.contact_code_failed",
            request=request,
            clinic=clinic,
            actor=device.user,
            details={"method": "passcode"},
        )
        retry = locked_until(clinic=clinic, subjects=[s for s, _ in subjects])
        if retry:
            return ProofResult(Proof.LOCKED, retry)
        return ProofResult(Proof.TOO_MANY_TRIES if device.token is None else Proof.WRONG)
