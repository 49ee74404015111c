"""Tenant resolution: every request's clinic comes from its host (``clinics.tenant_cache``
resolves and caches it), and a signed-in user of another clinic is anonymous here."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponseNotFound
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from clinics.tenant_cache import resolve_clinic
from portal.core.phones import phone_region

ALWAYS_SERVED_PATHS = ("/healthz", "/readyz", "/metrics")


class TenantMiddleware:
    """Sets ``request.clinic`` and the URLconf from the host.

    ``<slug>.<base>`` or a custom domain → that clinic's portal and admin;
    the bare base domain → the neutral landing page and the operators' admin;
    anything else (unknown or inactive clinic) → a plain 404.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path in ALWAYS_SERVED_PATHS:
            # The health and readiness checks and the metrics answer on any host without
            # touching tenant data.
            request.clinic = None
            request.urlconf = settings.PORTAL_PLATFORM_URLCONF
            return self.get_response(request)
        host = request.get_host().split(":")[0]
        is_platform, clinic = resolve_clinic(host)
        request.clinic = clinic
        if is_platform:
            request.urlconf = settings.PORTAL_PLATFORM_URLCONF
        elif clinic is None:
            return HttpResponseNotFound(render_to_string("404.html", request=None))
        if clinic is not None:
            timezone.activate(clinic.tz)
        try:
            # Numbers on every page are written as the clinic's country writes them.
            with phone_region(clinic.country if clinic is not None else None):
                return self.get_response(request)
        finally:
            timezone.deactivate()


class ClinicUserMiddleware:
    """A signed-in user is only signed in on their own clinic's host.

    A session cookie carried to another clinic's host (or the base domain) is treated
    as anonymous there; platform operators exist only on the base domain.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        clinic = getattr(request, "clinic", None)
        expected = clinic.pk if clinic else None

        def scoped_user():
            if user.is_authenticated and user.clinic_id != expected:
                return AnonymousUser()
            return user

        # Stay lazy: public pages never load the session or the user.
        request.user = SimpleLazyObject(scoped_user)
        return self.get_response(request)
