"""/metrics: the Prometheus exposition of the notification outbox, for the operator.

Computed from the database at every scrape (two aggregate queries), not counted in the
process: gunicorn runs several workers on each of several machines, and a counter kept in
one of them would show that worker's share only. Any worker on any machine therefore
answers the same numbers. Labels are statuses and channels, never a clinic, a recipient or
a template's content.

Off unless PORTAL_METRICS_TOKEN is set (404); then a scrape must send it as
``Authorization: Bearer <token>`` (401 otherwise).
"""

import datetime as dt
import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from portal.core.http import no_store
from portal.notifications.models import Notification
from portal.notifications.selectors import FAILURE_STATUSES, due_backlog, notification_counts

RECENT = dt.timedelta(hours=1)


class OutboxCollector:
    """The outbox as gauges, read when Prometheus asks (prometheus_client's custom
    collector protocol)."""

    def collect(self):
        now = timezone.now()
        counts = notification_counts(since=now - RECENT)
        by_status = GaugeMetricFamily(
            "portal_notifications",
            "Notifications in the outbox by status and channel.",
            labels=["status", "channel"],
        )
        # Every status and channel appears, at 0 when there is none, so an alert on one
        # series never sees it vanish.
        totals = {(row.status, row.channel): row for row in counts}
        for status in Notification.Status.values:
            for channel in Notification.Channel.values:
                row = totals.get((status, channel))
                by_status.add_metric([status, channel], row.total if row else 0)
        yield by_status

        failed = GaugeMetricFamily(
            "portal_notifications_failed_last_hour",
            "Notifications that ended failed, undelivered or unknown within the last hour.",
            labels=["channel"],
        )
        for channel in Notification.Channel.values:
            failed.add_metric(
                [channel],
                sum(
                    row.recent
                    for row in counts
                    if row.channel == channel and row.status in FAILURE_STATUSES
                ),
            )
        yield failed

        backlog = due_backlog(now=now)
        yield GaugeMetricFamily(
            "portal_notifications_due",
            "Pending notifications whose send time has come.",
            value=backlog.count,
        )
        yield GaugeMetricFamily(
            "portal_notification_oldest_due_age_seconds",
            "Seconds the longest-waiting due notification has waited (0 when none waits).",
            value=backlog.oldest_seconds,
        )


def _authorized(request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


@require_GET
def metrics(request):
    token = settings.PORTAL_METRICS_TOKEN
    if not token:
        raise Http404
    if not _authorized(request, token):
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return no_store(response)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OutboxCollector())
    return no_store(HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST))
