"""Rose Tremblay's details and what a person does and reads on French pages.

- ``choose(client, language)``: what a person does with the switch on every page.
- ``ui_texts(html)``: the words a person reads on a page (and hears: aria-labels).
- ``words_only(text, DATA)``: a text without the people's and clinic's own words.

Rose and her portal are fixtures in tests/conftest.py (the browser tests use them too).
"""

import re
from html.parser import HTMLParser

ROSE_ID = "TREM 4512 0107"
ROSE_MOBILE = "+16135550144"
ROSE_EMAIL = "rose.tremblay@example.com"
SWITCH_URL = "/i18n/setlang/"


def choose(client, language, next_url="/portal/"):
    """Press the language button (a POST to Django's set_language, back to ``next``)."""
    response = client.post(SWITCH_URL, {"language": language, "next": next_url})
    assert response.status_code == 302, response
    return response


class _Texts(HTMLParser):
    """Text of each element a person reads, plus labels only heard (aria-label)."""

    READ = {
        "title", "h1", "h2", "h3", "p", "li", "a", "button", "label", "legend", "th",
        "td", "dt", "dd", "summary", "option", "span", "strong",
    }  # fmt: skip
    HEARD = ("aria-label", "title", "alt", "placeholder")

    def __init__(self):
        super().__init__()
        self.open = []  # [tag, [chunks]] of every element still open
        self.texts = set()
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in self.HEARD:
            if attrs.get(name):
                self._add(attrs[name])
        if tag == "input" and attrs.get("type") == "submit" and attrs.get("value"):
            self._add(attrs["value"])
        if tag in ("style", "script"):
            self.skip += 1
        if tag in self.READ:
            self.open.append([tag, []])

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self.skip -= 1
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                _tag, chunks = self.open.pop(i)
                self._add("".join(chunks))
                break

    def handle_data(self, data):
        if not self.skip:
            for _tag, chunks in self.open:
                chunks.append(data)

    def _add(self, text):
        text = " ".join(text.split())
        if text:
            self.texts.add(text)


def ui_texts(html: str) -> set[str]:
    parser = _Texts()
    parser.feed(html)
    parser.close()
    return parser.texts


def words_only(text: str, data: list[str]) -> str:
    """``text`` without the people's and clinic's own data, digits and punctuation."""
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    return re.sub(r"[\W\d_]+", " ", text).strip()


# The people's and clinic's own words, which no translation touches.
DATA = [
    "Demo Family Clinic",
    "Rose Tremblay",
    "Gérard Tremblay",
    "Rose",
    "Gérard",
    "Tremblay",
    "Fiona Desk",
    "Dre Lavoie",
    "Regular visit",
    "Résultats de prise de sang",
    "Bonjour Madame Tremblay, vos résultats sont normaux.",
    "Adresse introuvable",
    "12 rue Principale",
    "Gatineau",
    "Hull",
    "QC",
    ROSE_EMAIL,
    ROSE_MOBILE,
    "+1 613 555 0100",
]
