"""The worker side of the outbox: claim, render and send one notification; find the
rows the relay must queue again. Nothing here queues work (``portal.notifications.tasks``
does), so the tasks can import it without a cycle."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from portal.notifications.channels import deliver
from portal.notifications.models import Notification
from portal.notifications.registry import Obsolete
from portal.notifications.rendering import render_notification
from portal.notifications.sms import AmbiguousSendError, PermanentSendError, RetryableSendError

logger = logging.getLogger(__name__)

Status = Notification.Status

# Seconds to wait before attempt n+1 (capped at the last entry).
BACKOFF_SECONDS = [30, 120, 600, 1800, 3600]


def _backoff(attempts: int) -> int:
    return BACKOFF_SECONDS[min(max(attempts - 1, 0), len(BACKOFF_SECONDS) - 1)]


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


def notifications_due(*, limit: int = 500) -> list[tuple[int, int]]:
    """(id, clinic id) of rows left pending that are due again (broker down at commit, or
    a retry that is due); rows stuck in "sending" are marked "unknown" on the way."""
    now = timezone.now()
    Notification.objects.filter(
        status=Status.SENDING, claimed_at__lt=now - STUCK_SENDING_AFTER
    ).update(status=Status.UNKNOWN, last_error="worker stopped while sending", updated_at=now)
    return list(
        Notification.objects.filter(
            status=Status.PENDING,
            next_attempt_at__lte=now,
            created_at__lte=now - timedelta(seconds=settings.NOTIFICATION_RELAY_AFTER_SECONDS),
        ).values_list("pk", "clinic_id")[:limit]
    )
