"""Who reaches the staff account pages (beside the admin, under /admin/account/)."""

from functools import wraps

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from clinics.admin_site import clinic_admin_site, platform_admin_site
from clinics.staff_signin import has_second_factor
from portal.core.http import no_store
from portal.staff.sessions import SESSION_STAFF_MUST_ENROL, admin_url


def admin_site_for(request):
    return clinic_admin_site if getattr(request, "clinic", None) else platform_admin_site


def staff_page(view):
    """A staff member (or operator) the admin of this host admits (the right clinic,
    active, staff and, where required, verified by their second factor)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not admin_site_for(request).has_permission(request):
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{admin_url(request, 'login')}?{query}")
        return no_store(view(request, *args, **kwargs))

    return wrapper


def needs_enrolment(request) -> bool:
    """Signed in with the password alone, no second factor set up yet, and either the
    admin requires one or the account joined by a staff invitation (whose holders always
    set one up first): the session reaches only the set-up (and sign-out)."""
    user = request.user
    if user.is_verified():
        return False
    if not (settings.PORTAL_STAFF_OTP_REQUIRED or request.session.get(SESSION_STAFF_MUST_ENROL)):
        return False
    return not has_second_factor(user)


def enrolment_page(view):
    """A staff member setting up their authenticator: admitted by the admin, or signed in
    by password with no second factor yet (``needs_enrolment``)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and needs_enrolment(request):
            return no_store(view(request, *args, **kwargs))
        return staff_page(view)(request, *args, **kwargs)

    return wrapper


def admin_context(request, title: str) -> dict:
    """What the admin's templates expect (header, user links) for a page of ours."""
    site = admin_site_for(request)
    request.current_app = site.name
    return {**site.each_context(request), "title": title}


def forced_page(request) -> str | None:
    """Where a signed-in staff member must go before anything else, if anywhere: the
    authenticator set-up (``needs_enrolment``), then the password change while "must
    change password" is set. Sign-out and the language switch stay open."""
    if needs_enrolment(request):
        name = "staff:two-factor"
    elif request.user.must_change_password:
        name = "staff:password"
    else:
        return None
    target = reverse(name, urlconf=getattr(request, "urlconf", None))
    open_paths = {
        target,
        admin_url(request, "logout"),
        reverse("set_language", urlconf=getattr(request, "urlconf", None)),
    }
    return None if request.path in open_paths else target
