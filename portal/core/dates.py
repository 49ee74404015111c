"""Dates in the portal's own named formats, and dates as staff type them.

Django's named formats (``DATE_FORMAT``, ``SHORT_DATETIME_FORMAT``, …) come from
``portal/formats/<lang>/formats.py`` through ``django.utils.formats``; the portal adds
``WEEKDAY_DATE_FORMAT`` there, read here in the active language.
"""

import datetime as dt
import re
import unicodedata

from django.utils import formats, translation
from django.utils.dateformat import format as date_format_string

_MONTHS = {
    # English and French month names and their usual abbreviations, without accents.
    **dict.fromkeys(["january", "jan", "janvier", "janv"], 1),
    **dict.fromkeys(["february", "feb", "fevrier", "fevr", "fev"], 2),
    **dict.fromkeys(["march", "mar", "mars"], 3),
    **dict.fromkeys(["april", "apr", "avril", "avr"], 4),
    **dict.fromkeys(["may", "mai"], 5),
    **dict.fromkeys(["june", "jun", "juin"], 6),
    **dict.fromkeys(["july", "jul", "juillet", "juil"], 7),
    **dict.fromkeys(["august", "aug", "aout"], 8),
    **dict.fromkeys(["september", "sep", "sept", "septembre"], 9),
    **dict.fromkeys(["october", "oct", "octobre"], 10),
    **dict.fromkeys(["november", "nov", "novembre"], 11),
    **dict.fromkeys(["december", "dec", "decembre"], 12),
}


def portal_format(name: str) -> str:
    """A named format of the portal's format modules in the active language."""
    for module in formats.get_format_modules(translation.get_language()):
        value = getattr(module, name, None)
        if value is not None:
            return value
    raise KeyError(name)


def weekday_date(value) -> str:
    """ "Tuesday 24 November 2026" / "mardi 24 novembre 2026"."""
    return date_format_string(value, portal_format("WEEKDAY_DATE_FORMAT"))


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def parse_typed_date(text: str) -> dt.date | None:
    """A date as staff type one, or None: ISO (1958-03-14), day first with slashes,
    dashes or dots (14/03/1958), or a month's name in English or French with the day on
    either side ("March 14 1958", "14 mars 1958", "Mar 14, 1958"). Numbers are read
    day first whatever the language: the clinics' written format is 14/03/1958."""
    words = re.findall(r"[^\W\d_]+|\d+", _plain(text.strip()))
    if not words:
        return None
    numbers = [w for w in words if w.isdigit()]
    names = [
        w for w in words if not w.isdigit() and w not in ("th", "st", "nd", "rd", "er", "de", "le")
    ]
    try:
        if not names and len(numbers) == 3:
            first, second, third = numbers
            if len(first) == 4:
                return dt.date(int(first), int(second), int(third))
            if len(third) == 4:
                return dt.date(int(third), int(second), int(first))
            return None
        if len(names) == 1 and len(numbers) == 2 and names[0] in _MONTHS:
            day, year = numbers if len(numbers[1]) == 4 else numbers[::-1]
            if len(year) != 4:
                return None
            return dt.date(int(year), _MONTHS[names[0]], int(day))
    except ValueError:
        return None
    return None
