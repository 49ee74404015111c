import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.notifications.channels import deliver
from portal.notifications.models import Notification
from portal.notifications.registry import Obsolete, is_registered
from portal.notifications.rendering import render_notification
from portal.notifications.sms import AmbiguousSendError, PermanentSendError, RetryableSendError

logger = logging.getLogger(__name__)

Status = Notification.Status

# Seconds to wait before attempt n+1 (capped at the last entry).
BACKOFF_SECONDS = [30, 120, 600, 1800, 3600]


def _backoff(attempts: int) -> int:
    return BACKOFF_SECONDS[min(max(attempts - 1, 0), len(BACKOFF_SECONDS) - 1)]


def notify(
    *, clinic, channel: str, recipient: str, template: str, context=None, language="en"
) -> Notification:
    """Record a notification in the caller's transaction; it is sent after commit.

    If the transaction rolls back, nothing is recorded and nothing is sent. If the
    broker is unreachable at commit, the row stays pending and the relay sends it.
    ``context`` must hold ids only; the template's builder fetches the rest at send time.
    """
    if not is_registered(template):
        raise ValueError(f"unknown notification template {template!r}")
    if channel not in Notification.Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    notification = Notification.objects.create(
        clinic=clinic,
        channel=channel,
        recipient=str(recipient),
        template=template,
        context=context or {},
        language=language,
    )
    transaction.on_commit(partial(enqueue, notification.pk, clinic.pk))
    return notification


def enqueue(notification_id: int, clinic_id: int) -> None:
    """Hand a notification to the broker; a broker failure leaves it for the relay."""
    from portal.notifications.tasks import send_notification

    try:
        send_notification.delay(notification_id, clinic_id)
    except Exception:  # noqa: BLE001 - broker down: the relay re-queues it later
        logger.warning("notification %s left pending: broker unavailable", notification_id)


@dataclass
class SendOutcome:
    status: str
    retry_in: int | None = None


def notification_send(*, notification_id: int, clinic_id: int) -> SendOutcome:
    """Claim, render and send one notification. Safe to call any number of times.

    The claim is an atomic pending → sending update: of any number of concurrent
    callers exactly one sends, the rest return ``skipped``. Retryable failures put the
    row back to pending with a backoff; ambiguous ones end in ``unknown`` and are never
    resent automatically.
    """
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, clinic_id=clinic_id, status=Status.PENDING
    ).update(status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    if not claimed:
        return SendOutcome("skipped")
    notification = Notification.objects.select_related("clinic").get(pk=notification_id)
    try:
        rendered = render_notification(notification)
        provider_id = deliver(notification, rendered)
    except Obsolete as exc:
        return _finish(notification, Status.CANCELLED, error=f"cancelled: {exc}")
    except RetryableSendError as exc:
        if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            return _finish(notification, Status.FAILED, error=str(exc))
        delay = _backoff(notification.attempts)
        notification.status = Status.PENDING
        notification.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        notification.last_error = str(exc)[:255]
        notification.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
        return SendOutcome(Status.PENDING, retry_in=delay)
    except AmbiguousSendError as exc:
        return _finish(notification, Status.UNKNOWN, error=str(exc))
    except PermanentSendError as exc:
        return _finish(notification, Status.FAILED, error=str(exc))
    except Exception as exc:
        # The type only: an exception's text or traceback may quote the recipient or body.
        logger.error("notification %s could not be sent: %s", notification_id, type(exc).__name__)
        return _finish(notification, Status.FAILED, error=f"error: {type(exc).__name__}")
    notification.provider_message_id = provider_id or ""
    notification.sent_at = timezone.now()
    notification.last_error = ""
    return _finish(notification, Status.SENT)


def _finish(notification, status, error=None) -> SendOutcome:
    notification.status = status
    if error is not None:
        notification.last_error = error[:255]
    notification.save(
        update_fields=["status", "provider_message_id", "sent_at", "last_error", "updated_at"]
    )
    return SendOutcome(status)


# A worker that dies mid-send leaves its row "sending"; after this long it is shown to
# staff as "unknown" (it may or may not have gone out) and never resent.
STUCK_SENDING_AFTER = timedelta(minutes=15)


def notifications_relay(*, limit: int = 500) -> int:
    """Re-queue rows left pending (broker down at commit, or a retry that is due), and
    mark rows stuck in "sending" as "unknown".

    Returns how many were queued. Queuing twice is harmless: the send claims atomically.
    """
    now = timezone.now()
    Notification.objects.filter(
        status=Status.SENDING, claimed_at__lt=now - STUCK_SENDING_AFTER
    ).update(status=Status.UNKNOWN, last_error="worker stopped while sending", updated_at=now)
    due = Notification.objects.filter(
        status=Status.PENDING,
        next_attempt_at__lte=now,
        created_at__lte=now - timedelta(seconds=settings.NOTIFICATION_RELAY_AFTER_SECONDS),
    ).values_list("pk", "clinic_id")[:limit]
    count = 0
    for notification_id, clinic_id in due:
        enqueue(notification_id, clinic_id)
        count += 1
    return count


_TWILIO_STATUSES = {
    "delivered": Status.DELIVERED,
    "failed": Status.FAILED,
    "undelivered": Status.UNDELIVERED,
    "sent": Status.SENT,
}


def notification_delivery_update(*, clinic, message_sid: str, provider_status: str) -> bool:
    """Apply a provider's delivery report. Returns False when no row matches."""
    status = _TWILIO_STATUSES.get(provider_status)
    if status is None or not message_sid:
        return True
    with transaction.atomic():
        notification = (
            Notification.objects.for_clinic(clinic)
            .select_for_update()
            .filter(provider_message_id=message_sid, channel=Notification.Channel.SMS)
            .first()
        )
        if notification is None:
            return False
        if notification.status == Status.DELIVERED:
            return True
        if status == Status.SENT and notification.status != Status.UNKNOWN:
            return True
        notification.status = status
        fields = ["status", "updated_at"]
        if status == Status.DELIVERED:
            notification.delivered_at = timezone.now()
            fields.append("delivered_at")
        notification.save(update_fields=fields)
    return True
