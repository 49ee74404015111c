"""The front desk's work screen: the queues at the top of each clinic's admin index.

A registry, so each app adds its own queues from its ``AppConfig.ready()`` without this
module knowing them::

    workboard.register(
        "patients.change_requests",
        order=10,
        label=_("Patient Requests"),
        loader=pending_change_requests,          # (*, clinic, now) -> Tally | list[Row]
        url="admin:patients_changerequest_changelist?status__exact=pending",
        permission="patients.view_changerequest",
    )

A loader runs one query whatever the number of waiting items (a count and the oldest
date in one aggregate), so the page's query count stays fixed. A loader may return
several rows (one per message pool, say), each with its own label and link.
Only items whose permission the staff member holds are shown (and loaded).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext


@dataclass(frozen=True)
class Tally:
    """What is waiting in one queue: how many, and since when (the oldest item's time,
    or None when the age says nothing, as for today's appointments)."""

    count: int
    since: datetime | None = None


@dataclass(frozen=True)
class Row:
    """One line of the work screen."""

    key: str
    label: str
    count: int
    since: datetime | None
    url: str

    @property
    def age(self) -> str:
        """How long the oldest item has waited, in its largest unit ("3 hours")."""
        if not self.count or self.since is None:
            return ""
        now = timezone.now()
        if now - self.since < timedelta(minutes=1):
            return gettext("under a minute")
        return timesince(self.since, now, depth=1)


@dataclass(frozen=True)
class Item:
    key: str
    order: int
    label: str
    loader: Callable
    url: str
    permission: str


_items: dict[str, Item] = {}


def register(key: str, *, order: int, label, loader: Callable, url: str, permission: str) -> None:
    """Add (or replace, by ``key``) a queue. ``url`` is a URL name of the clinic admin,
    optionally followed by ``?query``; ``permission`` an ``app_label.codename``."""
    _items[key] = Item(key, order, label, loader, url, permission)


def tally(queryset, since: str | None = None) -> Tally:
    """How many rows ``queryset`` has and the least ``since`` among them: one query."""
    aggregates = {"count": Count("pk")}
    if since:
        aggregates["since"] = Min(since)
    values = queryset.order_by().aggregate(**aggregates)
    return Tally(values["count"], values.get("since"))


def unregister(key: str) -> None:
    _items.pop(key, None)


def registered() -> list[Item]:
    return sorted(_items.values(), key=lambda item: (item.order, item.key))


def admin_url(url: str, current_app: str = "clinic_admin") -> str:
    """``"admin:app_model_changelist?a=b"`` → the path on the clinic admin, query kept."""
    name, _, query = url.partition("?")
    path = reverse(name, current_app=current_app)
    return f"{path}?{query}" if query else path


def rows_for(*, user, clinic, now: datetime | None = None) -> list[Row]:
    """The work screen of ``user`` at ``clinic``: one query per permitted item."""
    now = now or timezone.now()
    rows: list[Row] = []
    for item in registered():
        if not user.has_perm(item.permission):
            continue
        result = item.loader(clinic=clinic, now=now)
        if isinstance(result, Tally):
            rows.append(Row(item.key, item.label, result.count, result.since, admin_url(item.url)))
        else:
            rows.extend(result)
    return rows
