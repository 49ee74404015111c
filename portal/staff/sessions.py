"""What a staff session keeps, when it ends, and signing out.

A staff session starts at Django's ``login`` (the admin's sign-in form), which sends
``user_logged_in``: ``staff_session_start`` stamps it. A session without the stamp (one
from before this rule) is treated as expired.
"""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.urls import reverse

from clinics.staff_signin import has_second_factor
from portal.audit.services import audit_record
from portal.staff.onboarding import joined_by_invitation

SESSION_STAFF_SIGNED_IN_AT = "staff_signed_in_at"
SESSION_STAFF_LAST_SEEN = "staff_last_seen"
# Set at sign-in for an account that joined by a staff invitation and has no second factor
# yet: it sets one up before any other page (``access.needs_enrolment``), whatever
# PORTAL_STAFF_OTP_REQUIRED says.
SESSION_STAFF_MUST_ENROL = "staff_must_enrol"

# Writing the session on every request would cost a write per page; a minute's precision
# is plenty for an idle timeout counted in minutes.
_TOUCH_EVERY_SECONDS = 60


def admin_url(request, name: str, *args) -> str:
    """A URL of the admin this host serves (the clinic's, or the operators')."""
    clinic = getattr(request, "clinic", None)
    namespace = "clinic_admin" if clinic is not None else "platform_admin"
    return reverse(f"{namespace}:{name}", args=args, urlconf=getattr(request, "urlconf", None))


def staff_session_start(sender, request, user, **kwargs) -> None:
    """``user_logged_in``: stamp a staff member's new session."""
    if request is None or not user.is_staff:
        return
    now = time.time()
    request.session[SESSION_STAFF_SIGNED_IN_AT] = now
    request.session[SESSION_STAFF_LAST_SEEN] = now
    if joined_by_invitation(user) and not has_second_factor(user):
        request.session[SESSION_STAFF_MUST_ENROL] = True


def idle_limit_seconds(clinic) -> int:
    if clinic is None:
        return settings.PORTAL_OPERATOR_IDLE_MINUTES * 60
    return clinic.portal_settings.staff_idle_timeout_minutes * 60


def staff_session_ended(request) -> str | None:
    """ "idle", "expired" or None; a live session is marked as seen now."""
    session = request.session
    now = time.time()
    signed_in = session.get(SESSION_STAFF_SIGNED_IN_AT)
    last_seen = session.get(SESSION_STAFF_LAST_SEEN, signed_in)
    if signed_in is None:
        return "expired"
    if now - signed_in > settings.PORTAL_STAFF_SESSION_ABSOLUTE_HOURS * 3600:
        return "expired"
    if now - last_seen > idle_limit_seconds(getattr(request, "clinic", None)):
        return "idle"
    if now - last_seen >= _TOUCH_EVERY_SECONDS:
        session[SESSION_STAFF_LAST_SEEN] = now
    return None


def staff_logout(request, *, reason: str = "signout") -> None:
    user = request.user
    if user.is_authenticated:
        audit_record(action=f"signout.{reason}", request=request, actor=user)
    logout(request)
