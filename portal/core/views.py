from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET


def platform_landing(request):
    """The bare base domain: neutral, names no clinic."""
    return render(request, "portal/platform_landing.html")


def clinic_root(request):
    return redirect("portal:start")


@require_GET
@cache_control(max_age=3600, public=True)
def clinic_logo(request):
    logo = request.clinic.logo
    if not logo:
        raise Http404
    return FileResponse(logo.open("rb"))


@never_cache
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
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )
