"""The outbox: ``notify`` records a notification in the caller's transaction and hands
it to the broker after commit; delivery reports from the provider update it."""

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.utils import timezone

from portal.notifications.models import Notification
from portal.notifications.registry import is_registered
from portal.notifications.tasks import enqueue

logger = logging.getLogger(__name__)

Status = Notification.Status


@dataclass(frozen=True)
class DailyLimit:
    """At most ``per_day`` notifications on one channel sharing ``key`` per calendar day
    of the clinic (e.g. a patient's text messages about appointments). ``key`` is an
    opaque id ("patient:42"), never a name or a number."""

    key: str
    per_day: int


def notify(
    *,
    clinic,
    channel: str,
    recipient: str,
    template: str,
    context=None,
    language="en",
    daily_limit: DailyLimit | None = None,
) -> Notification:
    """Record a notification in the caller's transaction; it is sent after commit.

    If the transaction rolls back, nothing is recorded and nothing is sent. If the
    broker is unreachable at commit, the row stays pending and the relay sends it.
    ``context`` must hold ids only; the template's builder fetches the rest at send time.

    With ``daily_limit``, one over the day's limit is still recorded, as "not sent:
    daily limit" with the reason, and never queued. The count is of rows committed
    before this one: two transactions that record at the same instant may each pass.
    """
    if not is_registered(template):
        raise ValueError(f"unknown notification template {template!r}")
    if channel not in Notification.Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    over = daily_limit is not None and _reached(clinic, channel, daily_limit)
    notification = Notification.objects.create(
        clinic=clinic,
        channel=channel,
        recipient=str(recipient),
        template=template,
        context=context or {},
        language=language,
        limit_key=daily_limit.key if daily_limit else "",
        status=Status.OVER_LIMIT if over else Status.PENDING,
        last_error=(
            f"not sent: the daily limit of {daily_limit.per_day} was reached" if over else ""
        ),
    )
    if not over:
        transaction.on_commit(partial(enqueue, notification.pk, clinic.pk))
    return notification


def _reached(clinic, channel: str, limit: DailyLimit) -> bool:
    today = timezone.localtime(timezone.now(), clinic.tz).date()
    day_start = dt.datetime.combine(today, dt.time.min).replace(tzinfo=clinic.tz)
    recorded = (
        Notification.objects.for_clinic(clinic)
        .filter(channel=channel, limit_key=limit.key, created_at__gte=day_start)
        .exclude(status=Status.OVER_LIMIT)
        .count()
    )
    return recorded >= limit.per_day


class NotResendable(Exception):
    """Only a failed, undelivered or unknown notification not resent before is resent."""


class ConfirmationRequired(NotResendable):
    """The notification's outcome is unknown: it may have arrived, so staff must say so."""


# The provider refused these or reported them undelivered: nothing reached the person.
RESENDABLE = (Status.FAILED, Status.UNDELIVERED)


def notification_resend(
    *, clinic, notification_id: int, confirmed_unknown: bool = False
) -> Notification:
    """Queue a new copy of one of ``clinic``'s notifications that did not arrive.

    The copy goes through ``notify`` (sent after commit, its codes and links made afresh
    at send time, cancelled if its subject is gone). Atomic: the original is locked and
    marked resent, so it is resent once however many staff click at the same time.
    An "unknown" outcome may already have arrived: it is resent only with
    ``confirmed_unknown``. Raises ``Notification.DoesNotExist`` for another clinic's row and
    ``NotResendable`` (or ``ConfirmationRequired``) otherwise. Callers (the admin) record
    the audit event in the same transaction.
    """
    with transaction.atomic():
        original = (
            Notification.objects.for_clinic(clinic).select_for_update().get(pk=notification_id)
        )
        if original.resent_at is not None:
            raise NotResendable("already resent")
        if original.status == Status.UNKNOWN:
            if not confirmed_unknown:
                raise ConfirmationRequired("the outcome is unknown")
        elif original.status not in RESENDABLE:
            raise NotResendable(f"status {original.status}")
        copy = notify(
            clinic=clinic,
            channel=original.channel,
            recipient=original.recipient,
            template=original.template,
            context=original.context,
            language=original.language,
        )
        original.resent_at = timezone.now()
        original.save(update_fields=["resent_at", "updated_at"])
    return copy


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
