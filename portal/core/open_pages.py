"""Whole signed-in pages kept in the shared cache, with the parts that belong to one
request left open and filled in on every view.

A page of a patient's record is the same for every view of the same chart, reader kind,
language and version of its rows, except for what ``base.html`` and the page's forms
take from the request itself:

- the browser's CSRF token (the language switch, sign-out, the idle warning's sign-out
  and the page's own forms);
- the seconds left before the idle sign-out (``portal_idle_left``, the idle warning);
- the hash of the clinic's accent style, which rendering adds to the response's
  Content-Security-Policy (``portal.core.csp``);
- flash messages: a page with any waiting is rendered for that view and not kept.

``render_open`` renders a page with a random mark in place of the first two and keeps
the style hashes beside it; ``OpenPage.response`` fills them in for the request at hand.
What else a page reads from the request must be part of the cache key: ``shell_parts``
gives what ``base.html`` reads (the clinic's branding, the reader's menu, the path, the
static files' manifest), and the caller adds what its own template reads.

Hand-written, not Django's cache middleware or ``{% cache %}``: the middleware does not
keep pages that vary on the session cookie (every signed-in page does), and a fragment
cache would still render the page around it, which is the cost this removes. Only a GET
or HEAD is ever served from here (``servable``).
"""

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.messages import get_messages
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.template import engines
from django.template.loader import render_to_string

_CSRF, _IDLE = "c", "i"


@dataclass(frozen=True)
class OpenPage:
    """A rendered page and the mark that opens its holes."""

    html: str
    mark: str
    style_hashes: tuple[str, ...]

    def response(self, request) -> HttpResponse:
        """The page for this request: its CSRF token, its seconds left, its style hashes."""
        present = getattr(request, "csp_style_hashes", [])
        missing = [each for each in self.style_hashes if each not in present]
        if missing:  # from the cache (a page rendered for this request added them already)
            request.csp_style_hashes = [*present, *missing]
        html = self.html
        if self.mark + _CSRF in html:
            html = html.replace(self.mark + _CSRF, get_token(request))
        if self.mark + _IDLE in html:
            html = html.replace(self.mark + _IDLE, str(int(request.portal_idle_left)))
        return HttpResponse(html)


def render_open(request, template: str, context: dict) -> OpenPage:
    """``template`` rendered for ``request``, its per-request parts left open."""
    mark = f"open{secrets.token_hex(12)}"
    styles_before = len(getattr(request, "csp_style_hashes", []))
    idle_left = getattr(request, "portal_idle_left", None)
    html = render_to_string(
        template,
        {
            **context,
            "csrf_token": mark + _CSRF,
            "portal_idle_left": mark + _IDLE if idle_left else idle_left,
        },
        request,
    )
    style_hashes = tuple(getattr(request, "csp_style_hashes", [])[styles_before:])
    return OpenPage(html=html, mark=mark, style_hashes=style_hashes)


def servable(request) -> bool:
    """Whether this request may get a stored page: a GET or HEAD with no flash message
    waiting (counting them does not mark them shown) and a live idle count."""
    return (
        request.method in ("GET", "HEAD")
        and bool(getattr(request, "portal_idle_left", None))
        and len(get_messages(request)) == 0
    )


def shell_parts(request) -> tuple[str, ...]:
    """What ``base.html`` reads from the request, for the cache key: the clinic as it is
    now (any saved change of its name, logo, phone or colour), the reader's menu, the
    path with its query, and the deploy's templates, translations and static files."""
    clinic, user = request.clinic, request.user
    access = getattr(request, "access", None)
    clinic_state = tuple(getattr(clinic, f.attname) for f in clinic._meta.concrete_fields)
    menu = (
        user.is_authenticated,
        user.is_staff,
        *(
            (
                access.allows_messages,
                access.allows_appointments,
                access.allows_health_record,
                access.allows_demographics,
            )
            if access is not None
            else ()
        ),
    )
    return (
        code_version(),
        hashlib.sha256(repr((clinic_state, menu, request.get_full_path())).encode()).hexdigest()[
            :32
        ],
        getattr(staticfiles_storage, "manifest_hash", "") or "",
    )


@cache
def code_version() -> str:
    """A digest of the project's templates and compiled translations, read once per
    process: a deploy that changes a page's shell or its words (a fix in ``base.html``)
    stores pages under new keys at once, instead of old pages living out their time."""
    digest = hashlib.sha256()
    roots = [*engines["django"].engine.dirs, *settings.LOCALE_PATHS]
    for root in map(Path, roots):
        for path in sorted(root.rglob("*")):
            if path.suffix in (".html", ".txt", ".mo") and path.is_file():
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
