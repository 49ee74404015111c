from django.conf import settings


def source_code(request):
    """Where every page's "Source code" link points (AGPL-3.0 §13)."""
    return {"portal_source_url": settings.PORTAL_SOURCE_URL}


def idle_left(request):
    """The seconds left before the idle sign-out, for the idle warning (set on the request
    by the portal's session middleware; absent elsewhere). A context variable, not read
    from the request in the template, so that a stored page can leave it open
    (``portal.core.open_pages``)."""
    return {"portal_idle_left": getattr(request, "portal_idle_left", None)}
