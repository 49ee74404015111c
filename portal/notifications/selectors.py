"""Reads over the whole outbox (every clinic): what the operator's metrics and the
readiness check show. Counts and ages only, never a recipient or a template's content."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Min, Q

from portal.notifications.models import Notification

Status = Notification.Status
# What did not reach its recipient: refused by the provider or the backend, reported
# undelivered, or lost in an unknown state (a worker died mid-send).
FAILURE_STATUSES = (Status.FAILED, Status.UNDELIVERED, Status.UNKNOWN)


@dataclass(frozen=True)
class StatusCount:
    status: str
    channel: str
    total: int
    # Of ``total``: rows whose status last changed within the window asked for.
    recent: int


def notification_counts(*, since: dt.datetime) -> list[StatusCount]:
    """Notifications per (status, channel), and how many of each changed since ``since``.
    One aggregate query (a scan of the outbox: no index serves a whole-table count)."""
    rows = (
        Notification.objects.order_by()
        .values("status", "channel")
        .annotate(total=Count("id"), recent=Count("id", filter=Q(updated_at__gte=since)))
    )
    return [StatusCount(row["status"], row["channel"], row["total"], row["recent"]) for row in rows]


@dataclass(frozen=True)
class DueBacklog:
    count: int
    oldest_seconds: int


def due_backlog(*, now: dt.datetime) -> DueBacklog:
    """Pending notifications already due and how long the longest-waiting one has been
    (0 when none is): beyond a minute or two the worker, the broker or beat's relay is not
    keeping up. One query on the partial index of pending rows."""
    found = Notification.objects.filter(status=Status.PENDING, next_attempt_at__lte=now).aggregate(
        count=Count("id"), oldest=Min("next_attempt_at")
    )
    oldest = found["oldest"]
    waited = 0 if oldest is None else int((now - oldest).total_seconds())
    return DueBacklog(count=found["count"], oldest_seconds=max(waited, 0))
