"""Content-Security-Policy: django-csp's middleware, plus the hashes of the inline styles
a page rendered with ``{% accent_style %}``.

A hash, not a nonce: a page stays byte-for-byte the same for the same content (the
sign-in pages are compared byte for byte to show they leak nothing), and the style still
runs under ``style-src 'self'`` with no 'unsafe-inline'.
"""

import base64
import hashlib
from functools import lru_cache

from csp.middleware import CSPMiddleware


@lru_cache(maxsize=256)  # the same few inline styles on every page
def source_hash(text: str) -> str:
    """The CSP source expression that allows exactly this inline script or style text."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def allow_inline_style(request, text: str) -> None:
    """Let ``text``, rendered as a <style> element of this response, apply."""
    request.csp_style_hashes = [*getattr(request, "csp_style_hashes", []), source_hash(text)]


class PortalCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        hashes = getattr(request, "csp_style_hashes", None)
        if hashes:
            update = dict(parts.update or {})
            update["style-src"] = [*update.get("style-src", []), *hashes]
            parts.update = update
        return parts
