"""The composition layer's views: the patient home, the portal root, the landing page,
the clinic logo, the source archive and the health and readiness checks."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from patients.access import patient_required
from patients.models import PatientAccess
from patients.selectors import usable_grants
from patients.views import start
from portal.celery import app as celery_app
from portal.core.http import no_store
from portal.notifications.selectors import due_backlog
from portal.site.home import home_summary
from portal.site.source import source_archive

logger = logging.getLogger(__name__)


def platform_landing(request):
    """The bare base domain: neutral, names no clinic."""
    return render(request, "portal/platform_landing.html")


def clinic_root(request):
    return redirect("portal:start")


def portal_root(request):
    """/portal/: the home page for a signed-in patient, the sign-in's first step else."""
    if request.user.is_authenticated and not request.user.is_staff:
        return home(request)
    return start(request)


@patient_required
def home(request):
    access = request.access
    # Counts and the next visit come from the chart's cached summary (portal.site.home);
    # each is shown only when the account's access includes it.
    summary = home_summary(clinic=request.clinic, patient=request.patient)
    context = {
        "patient": request.patient,
        "access": access,
        "grants": usable_grants(clinic=request.clinic, user=request.user),
        "unread_messages": summary.unread_messages if access.allows("messages") else None,
        "access_appointments": access.allows("appointments"),
        "next_visit": summary.next_start if access.allows("appointments") else None,
        "access_demographics": access.allows("demographics"),
        "pending_requests": summary.pending_requests if access.allows("demographics") else None,
        "access_health_record": access.allows(PatientAccess.HEALTH_RECORD),
    }
    return render(request, "site/home.html", context)


@require_GET
@cache_control(max_age=3600, public=True)
def clinic_logo(request):
    logo = request.clinic.logo
    if not logo:
        raise Http404
    try:
        handle = logo.storage.open(logo.name, "rb")
    except FileNotFoundError as missing:
        raise Http404 from missing
    return FileResponse(handle, filename=logo.name)


@require_GET
@cache_control(max_age=3600, public=True)
def source_code(request):
    """The running portal's source (AGPL-3.0 §13); names no clinic, served on every host."""
    response = HttpResponse(source_archive(), content_type="application/gzip")
    response["Content-Disposition"] = 'attachment; filename="patient-portal-source.tar.gz"'
    return response


@require_GET
def healthz(request):
    """Database and (when configured) Redis reachability. No clinic or patient data."""
    checks = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = "error"
        healthy = False
    if settings.REDIS_URL:
        try:
            cache.set("healthz", "1", 5)
            checks["redis"] = "ok" if cache.get("healthz") == "1" else "error"
        except Exception:  # noqa: BLE001
            checks["redis"] = "error"
        healthy = healthy and checks["redis"] == "ok"
    else:
        checks["redis"] = "not configured"
    return no_store(
        JsonResponse(
            {"status": "ok" if healthy else "error", "checks": checks},
            status=200 if healthy else 503,
        )
    )


def _database_ready() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def _cache_ready() -> bool:
    cache.set("readyz", "1", 5)
    return cache.get("readyz") == "1"


def _broker_ready() -> bool:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    return True


@require_GET
def readyz(request):
    """Whether this process can serve: the database, the cache, the Celery broker (when
    REDIS_URL is set) and the notification backlog. 503 names what failed; the body holds
    no error text, host or clinic (an exception's text could carry a URL's password)."""
    probes = {"database": _database_ready, "cache": _cache_ready}
    if settings.REDIS_URL:
        probes["broker"] = _broker_ready
    checks = {}
    for name, probe in probes.items():
        try:
            checks[name] = "ok" if probe() else "error"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            logger.warning("readyz: %s failed (%s)", name, type(exc).__name__)
            checks[name] = "error"
    if not settings.REDIS_URL:
        checks["broker"] = "not configured"
    body = {"checks": checks}
    if checks["database"] == "ok":
        waited = due_backlog(now=timezone.now()).oldest_seconds
        body["oldest_due_notification_seconds"] = waited
        limit = settings.PORTAL_READYZ_NOTIFICATION_DELAY_SECONDS
        checks["notifications"] = "ok" if waited <= limit else "error"
    else:
        checks["notifications"] = "unknown"
    failed = sorted(name for name, state in checks.items() if state in ("error", "unknown"))
    body = {"status": "error" if failed else "ok", "failed": failed, **body}
    return no_store(JsonResponse(body, status=503 if failed else 200))
