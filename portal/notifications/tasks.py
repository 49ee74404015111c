from celery import shared_task

from portal.notifications.services import notification_send, notifications_relay


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
