"""Who reaches the staff account pages (beside the admin, under /admin/account/)."""

from functools import wraps

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from clinics.admin_site import clinic_admin_site, platform_admin_site
from portal.core.http import no_store
from portal.staff.sessions import admin_url


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


def admin_context(request, title: str) -> dict:
    """What the admin's templates expect (header, user links) for a page of ours."""
    site = admin_site_for(request)
    request.current_app = site.name
    return {**site.each_context(request), "title": title}


def forced_page(request) -> str | None:
    """Where a signed-in staff member must go before anything else, if anywhere: the
    password change while "must change password" is set (sign-out and the language
    switch stay open)."""
    user = request.user
    if not user.must_change_password:
        return None
    target = reverse("staff:password", urlconf=getattr(request, "urlconf", None))
    open_paths = {
        target,
        admin_url(request, "logout"),
        reverse("set_language", urlconf=getattr(request, "urlconf", None)),
    }
    return None if request.path in open_paths else target
