"""Staff sessions in the admin: an idle timeout (the clinic's portal settings; operators'
from the server settings) and an absolute limit, counted from the sign-in; and the page a
session must see before any other (``access.forced_page``)."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from portal.staff import sessions
from portal.staff.access import forced_page


class StaffSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Without a session cookie nothing is read: public pages still load no session.
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            user = request.user
            if user.is_authenticated and user.is_staff:
                ended = sessions.staff_session_ended(request)
                if ended:
                    return self._signed_out(request, ended)
                forced = forced_page(request)
                if forced:
                    return redirect(forced)
        return self.get_response(request)

    def _signed_out(self, request, reason):
        sessions.staff_logout(request, reason=reason)
        messages.info(
            request,
            _("You were signed out after a period without activity. Sign in again.")
            if reason == "idle"
            else _("For your safety, sessions end after %(hours)d hours. Sign in again.")
            % {"hours": settings.PORTAL_STAFF_SESSION_ABSOLUTE_HOURS},
        )
        login = sessions.admin_url(request, "login")
        if request.method == "GET":
            login = f"{login}?{urlencode({'next': request.get_full_path()})}"
        return redirect(login)
