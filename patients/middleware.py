import time

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

from patients.services import SESSION_LAST_SEEN, SESSION_SIGNED_IN_AT, portal_logout

# Writing the session on every request would cost a write per page; a minute's
# precision is plenty for an idle timeout counted in minutes.
_TOUCH_EVERY_SECONDS = 60


class PortalSessionMiddleware:
    """Idle timeout (the clinic's setting) and a 12-hour absolute limit for portal
    sessions, and ``Cache-Control: no-store`` on every signed-in response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clinic = getattr(request, "clinic", None)
        user = request.user
        if clinic is not None and user.is_authenticated and not user.is_staff:
            ended = self._ended(request, clinic)
            if ended:
                portal_logout(request, reason=ended)
                messages.info(
                    request,
                    _("You were signed out after a period without activity. Sign in again.")
                    if ended == "idle"
                    else _("For your safety, sessions end after 12 hours. Sign in again."),
                )
                return redirect("portal:start")
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response

    def _ended(self, request, clinic):
        session = request.session
        now = time.time()
        signed_in = session.get(SESSION_SIGNED_IN_AT)
        last_seen = session.get(SESSION_LAST_SEEN, signed_in)
        if signed_in is None:
            return "expired"
        if now - signed_in > settings.PORTAL_SESSION_ABSOLUTE_HOURS * 3600:
            return "expired"
        if now - last_seen > clinic.portal_settings.idle_timeout_minutes * 60:
            return "idle"
        if now - last_seen >= _TOUCH_EVERY_SECONDS:
            session[SESSION_LAST_SEEN] = now
        return None
