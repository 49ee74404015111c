import time

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _

from patients.drafts import draft_fields_for, draft_keep
from patients.returns import next_keep, signin_url
from patients.sessions import (
    SESSION_LANGUAGE,
    SESSION_LAST_SEEN,
    SESSION_PATIENT,
    SESSION_SIGNED_IN_AT,
    portal_logout,
)
from portal.core.http import no_store

# Writing the session on every request would cost a write per page; a minute's
# precision is plenty for an idle timeout counted in minutes.
_TOUCH_EVERY_SECONDS = 60
_KEEP_ALIVE = "/portal/session/keep-alive/"


class PortalSessionMiddleware:
    """Idle timeout (the clinic's setting) and a 12-hour absolute limit for portal
    sessions, and ``Cache-Control: no-store`` on every signed-in response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clinic = getattr(request, "clinic", None)
        user = request.user
        request.keep_alive = request.method == "POST" and request.path_info == _KEEP_ALIVE
        if clinic is not None and user.is_authenticated and not user.is_staff:
            ended = self._ended(request, clinic)
            if ended:
                return self._signed_out(request, ended)
        response = self.get_response(request)
        if request.user.is_authenticated:
            no_store(response)
        return response

    def _signed_out(self, request, ended):
        """End the session; keep a form's text the timeout interrupted (``drafts``) and
        the page to return to after signing in again (``returns``)."""
        user_id, patient_id = request.user.pk, request.session.get(SESSION_PATIENT)
        back_to = signin_url(request)
        fields = draft_fields_for(request) if request.method == "POST" else ()
        # Only what the patient's own page posted is kept: a forged POST from another
        # site must not plant text in their forms (checked before the session ends).
        if fields and not _csrf_passes(request):
            fields = ()
        portal_logout(request, reason=ended)
        kept = False
        if fields:
            kept = draft_keep(request, user_id=user_id, patient_id=patient_id, fields=fields)
            next_keep(request, request.path)
        if ended == "idle":
            text = _("You were signed out after a period without activity. Sign in again.")
        else:
            text = _("For your safety, sessions end after 12 hours. Sign in again.")
        if kept:
            text = "{} {}".format(
                text, _("What you were typing is kept: it comes back once you sign in again.")
            )
        messages.info(request, text)
        if request.keep_alive:
            return no_store(JsonResponse({"signed_in": False}, status=401))
        return redirect(back_to)

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
        if now - last_seen >= _TOUCH_EVERY_SECONDS or getattr(request, "keep_alive", False):
            session[SESSION_LAST_SEEN] = last_seen = now
        # What the page's idle warning counts down from (``static/js/idle.js``): the
        # server's own limit, which stays the one that signs out.
        request.portal_idle_left = int(
            clinic.portal_settings.idle_timeout_minutes * 60 - (now - last_seen)
        )
        return None


def switch_choice(request) -> str | None:
    """The language chosen with the switch on every page: Django's ``set_language``
    keeps it in the (host-only) language cookie, and nothing else sets that cookie."""
    code = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def apply_portal_language(request) -> None:
    """Use the signed-in person's preferred language for this request, unless they chose
    one with the switch (see ``PortalLanguageMiddleware``)."""
    if switch_choice(request):
        return
    language = request.session.get(SESSION_LANGUAGE)
    if language and language in dict(settings.LANGUAGES):
        translation.activate(language)
        request.LANGUAGE_CODE = language


class PortalLanguageMiddleware:
    """The language of every page, in this order:

    1. the language the person chose with the switch on every page (the language cookie);
    2. once signed in to the portal, the preferred language on their chart, which
       sign-in completion (``patients.signin``) keeps in the session (a change to the chart
       takes effect at the next sign-in);
    3. otherwise the browser's Accept-Language, then ``LANGUAGE_CODE``
       (``LocaleMiddleware``, which also handles 1).

    Goes after ``LocaleMiddleware``. Without a session cookie nothing is read, so public
    pages still load no session.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            apply_portal_language(request)
        return self.get_response(request)


def _csrf_passes(request) -> bool:
    """Whether this POST carries the CSRF token Django's middleware would accept (this
    middleware answers before the view, so before Django's own check runs)."""
    checker = CsrfViewMiddleware(lambda request: None)
    return checker.process_view(request, None, (), {}) is None
