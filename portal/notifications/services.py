"""The outbox: ``notify`` records a notification in the caller's transaction and hands
it to the broker after commit; delivery reports from the provider update it."""

import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

from portal.notifications.models import Notification
from portal.notifications.registry import is_registered
from portal.notifications.tasks import enqueue

logger = logging.getLogger(__name__)

Status = Notification.Status


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
