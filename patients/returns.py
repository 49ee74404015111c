"""Where a sign-in returns: the portal page that was asked for, on this clinic's host.

A page that needs a signed-in account sends a visitor to Identification with
``?next=<the page>``. Every sign-in step keeps that page in the session (never in a form
field a later step could lose), and sign-in completion sends the browser there. A
``next`` is used only when it is a path of this portal on the host the request came to
(``url_has_allowed_host_and_scheme`` with the clinic's own host, https when the request
is https): other hosts, scheme-relative ``//host``, backslash tricks and ``javascript:``
are refused, and so are the sign-in pages themselves.
"""

from urllib.parse import unquote, urlsplit, urlunsplit

from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from patients.sessions import SESSION_NEXT_AFTER_SIGNIN

# Pages a sign-in never returns to: they are the sign-in itself, or end it.
_NOT_A_DESTINATION = ("/portal/sign-in/", "/portal/sign-out/", "/portal/password-reset/")


def safe_next(request, url) -> str | None:
    """``url`` as a path (and query) of this portal when it is safe to return to."""
    if not isinstance(url, str) or not url or url != url.strip() or "\\" in url:
        return None
    if not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(url)
    # Judged as a browser will resolve it: "/portal/../admin/" (or "%2e%2e") leaves the
    # portal, and would also reach the sign-in pages refused below.
    path = unquote(parts.path)
    if any(segment in (".", "..") for segment in path.split("/")) or "//" in path:
        return None
    if not path.startswith("/portal/") or path.startswith(_NOT_A_DESTINATION):
        return None
    return urlunsplit(("", "", parts.path, parts.query, ""))


def next_remember(request) -> None:
    """Keep the ``next`` this request carries (query or form) for the end of the sign-in;
    an unsafe one is ignored, and does not replace a safe one kept earlier."""
    url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if url is not None:
        request.session[SESSION_NEXT_AFTER_SIGNIN] = url


def next_keep(request, url: str) -> None:
    """Return to ``url`` (a page of this portal) once signed in."""
    url = safe_next(request, url)
    if url is not None:
        request.session[SESSION_NEXT_AFTER_SIGNIN] = url


def next_take(request) -> str | None:
    """The page to return to now that the sign-in is complete (checked again: a session
    value is trusted no more than a query), forgotten once taken."""
    return safe_next(request, request.session.pop(SESSION_NEXT_AFTER_SIGNIN, None))


def signin_url(request) -> str:
    """Identification, asked to return to this page (a GET) afterwards."""
    start = reverse("portal:start")
    if request.method != "GET":
        return start
    here = safe_next(request, request.get_full_path())
    if here is None or here == start:
        return start
    return f"{start}?{urlencode({'next': here})}"
