import logging

from celery import shared_task

from portal.notifications.delivery import notification_send, notifications_due

logger = logging.getLogger(__name__)


def enqueue(notification_id: int, clinic_id: int) -> None:
    """Hand a notification to the broker; a broker failure leaves it for the relay."""
    try:
        send_notification.delay(notification_id, clinic_id)
    except Exception:  # noqa: BLE001 - broker down: the relay re-queues it later
        logger.warning("notification %s left pending: broker unavailable", notification_id)


def notifications_relay(*, limit: int = 500) -> int:
    """Re-queue rows left pending (broker down at commit, or a retry that is due), and
    mark rows stuck in "sending" as "unknown".

    Returns how many were queued. Queuing twice is harmless: the send claims atomically.
    """
    due = notifications_due(limit=limit)
    for notification_id, clinic_id in due:
        enqueue(notification_id, clinic_id)
    return len(due)


@shared_task(bind=True, acks_late=True, max_retries=None, ignore_result=True)
def send_notification(self, notification_id: int, clinic_id: int):
    """Send one notification (ids only; the row is re-fetched and claimed atomically)."""
    outcome = notification_send(notification_id=notification_id, clinic_id=clinic_id)
    # In-process (eager) mode a retry would run at once and block the request;
    # the row stays pending and the relay picks it up when it is due.
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def relay_pending_notifications():
    return notifications_relay()
