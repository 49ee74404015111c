"""Reading a served page the way a browser would, for script it did not mean to run."""

import re
from html.parser import HTMLParser

from portal.core.csp import source_hash

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
# Every patient-controlled text in the XSS world carries both payloads ...
PAYLOAD = SCRIPT + IMG
# ... except where the column is too short for them (postal codes: 20 characters).
SHORT = '"><svg/onload=1>'
RAW = (SCRIPT, "<img src=x onerror=alert(1)>", "<svg/onload=1>")

_STYLE_SRC_RE = re.compile(r"(?:^|;)\s*style-src ([^;]*)")


def style_sources(policy: str) -> list[str]:
    match = _STYLE_SRC_RE.search(policy)
    return match.group(1).split() if match else []


class _Reader(HTMLParser):
    def __init__(self, style_sources):
        super().__init__(convert_charrefs=False)
        self.style_sources = style_sources
        self.problems = []
        self.style_attributes = 0
        self.style_text = None
        self.style_nonce = None

    def handle_starttag(self, tag, attrs):
        named = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>: an inline event handler")
            if name == "style":
                self.style_attributes += 1
            if name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}>: a javascript: URL")
        if tag == "script" and not named.get("src") and named.get("type") != "application/json":
            self.problems.append("<script> without src: an inline script")
        if tag == "style":
            self.style_text = ""
            self.style_nonce = named.get("nonce")

    def handle_data(self, data):
        if self.style_text is not None:
            self.style_text += data

    def handle_endtag(self, tag):
        if tag == "style" and self.style_text is not None:
            allowed = source_hash(self.style_text) in self.style_sources or (
                self.style_nonce and f"'nonce-{self.style_nonce}'" in self.style_sources
            )
            if not allowed:
                self.problems.append(
                    f"<style>{self.style_text[:40]}…</style> neither hashed nor nonced "
                    "in the response's Content-Security-Policy"
                )
            self.style_text = None


def read_page(response) -> tuple[list[str], int]:
    """(problems, number of style attributes) of an HTML response: stored or reflected
    payloads left unescaped, inline scripts and event handlers, javascript: URLs, and
    <style> elements the Content-Security-Policy would block (neither their hash nor
    their nonce is in its style-src)."""
    if response.streaming or "html" not in response.get("Content-Type", ""):
        return [], 0
    text = response.content.decode()
    problems = [f"unescaped {raw!r}" for raw in RAW if raw in text]
    reader = _Reader(style_sources(response.get("Content-Security-Policy", "")))
    reader.feed(text)
    reader.close()
    return problems + reader.problems, reader.style_attributes
