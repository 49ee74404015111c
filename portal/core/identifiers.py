"""Canonical identifiers: the one place where a typed email, mobile or ID number
becomes the form that is stored and compared.

Every identity decision compares canonical strings by exact equality, in Python or on a
stored column. Nothing compares them with the database's case folding (``iexact``,
``UPPER``, ``LOWER``): SQLite and PostgreSQL fold differently (PostgreSQL's
``UPPER('ı')`` is ``'I'``), and a look-alike must never reach another person's account.

The rules, so that two strings that display the same reach the same account or are
refused, and different strings never reach the same account:

- **Email**: Unicode NFKC (full-width ``ｏｌｉｖｉａ`` and ``ﬁ`` ligatures become ASCII),
  surrounding white space removed.

  The part before ``@`` must then be an RFC 5322 dot-atom: ASCII letters, digits and
  ``!#$%&'*+/=?^_`{|}~-``, in runs joined by single dots (no dot first or last, no two
  in a row). Everything else is refused: letters outside ASCII (``olıvia`` with a
  dotless ı would otherwise display like ``olivia``), quoted strings, comments such as
  ``bomb(1)``, and the specials ``"(),:;<>@[\\]`` that mail software reads in different
  ways. It is lower-cased (every mail provider the clinics' patients use treats it
  case-blind).

  The domain is mapped by IDNA (UTS 46: lower case, full-width letters, and the
  ideographic full stops ``。`` ``．`` ``｡`` read as dots), its trailing dots removed
  (``example.com.`` and ``example.com。`` are ``example.com``), and stored IDNA-encoded:
  ``Exämple.com`` as ``xn--exmple-cua.com``. A domain typed in punycode is read as the
  Unicode it stands for, so both spellings follow the same rules. Characters that IDNA
  would silently drop (variation selectors, the combining grapheme joiner, Hangul
  fillers) are refused like other invisible ones. A domain is refused when it could pass
  for another one:

  * a character that Unicode's confusables list as looking like an ASCII one:
    ``gmaıl.com`` (dotless ı) and ``gmаil.com`` (Cyrillic а) would send a code to a
    domain anyone can register while displaying as gmail.com;
  * an accented letter whose unaccented letter is such a character: ``bӧcher.de``
    (Cyrillic о with a diaeresis) displays like ``böcher.de``;
  * a combining mark (Unicode categories Mn, Mc, Me) on an ASCII character or at the
    start of a label: ``gmai̇l.com`` (an i with U+0307 COMBINING DOT ABOVE) displays
    like gmail.com.

  Accented letters that Unicode composes into one character (``café.fr``, ``bücher.de``)
  and other scripts (``例.jp``) are kept.
- **Mobile**: parsed by ``phonenumbers`` with the clinic's region (full-width and other
  digits included), valid numbers only, stored as E.164 (``+16135550123``).
- **ID number**: NFKC, every decimal digit of any script as its ASCII digit, letters
  upper-cased, separators (spaces, dashes, dots, slashes) removed. Letters outside ASCII
  are refused.

Zero-width and other invisible characters are refused everywhere rather than dropped, so
that a pasted address that looks right but is not is caught where it is typed.

Every canonical form is its own canonical form: canonicalising a stored value again gives
the same string (for a mobile, read with any region), so a stored value is found by
exact equality with whatever spelling of it is typed next.
"""

import functools
import re
import unicodedata

import idna
import phonenumbers
from confusable_homoglyphs import confusables


class InvalidIdentifier(ValueError):  # noqa: N818 - the condition a form reports
    """The text cannot be made into a canonical identifier (or would pass for another)."""


# Cf: zero-width joiners, bidi controls, soft hyphens; Cc: control characters (C0 and
# C1); Co, Cn: private and unassigned code points; Zl, Zp: line and paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Co", "Cn", "Zl", "Zp"})
# The rest of Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), which
# shows as nothing though its category is a letter or a mark: the combining grapheme
# joiner, the Hangul fillers, two Khmer vowels, the Mongolian and the other variation
# selectors. (Python's unicodedata has no lookup of that property.)
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
)


def _ignorable(ch: str) -> bool:
    point = ord(ch)
    return any(low <= point <= high for low, high in _IGNORABLE_RANGES)


def has_invisible_character(text: str, *, allowed: str = "") -> bool:
    """Whether ``text`` holds a character that shows as nothing, or as something other
    than what it is (a bidi override turns the text around it): such text reads
    differently from what was typed. ``allowed``: characters to let through (a line
    break in a note)."""
    return any(
        (unicodedata.category(ch) in INVISIBLE_CATEGORIES or _ignorable(ch)) and ch not in allowed
        for ch in text
    )


def _nfkc(value: str) -> str:
    text = unicodedata.normalize("NFKC", value or "").strip()
    if has_invisible_character(text):
        raise InvalidIdentifier("invisible character")
    return text


@functools.lru_cache(maxsize=4096)
def _passes_for_ascii(ch: str) -> bool:
    """Whether a non-ASCII character is listed by Unicode's confusables (through
    ``confusable_homoglyphs``) as looking like one ASCII character: ``ı`` like ``i``,
    Cyrillic ``а`` like ``a``. Letters such as ``é``, ``ü``, ``ß`` or ``例`` are not."""
    found = confusables.is_confusable(ch, greedy=True, preferred_aliases=[]) or []
    return any(
        len(glyph["c"]) == 1 and glyph["c"].isascii()
        for entry in found
        for glyph in entry["homoglyphs"]
    )


@functools.lru_cache(maxsize=4096)
def _dropped_by_idna(ch: str) -> bool:
    """Whether IDNA mapping (UTS 46) removes the character: variation selectors, the
    combining grapheme joiner, Hangul fillers. Invisible, so refused rather than dropped."""
    try:
        return idna.uts46_remap(ch, std3_rules=False) == ""
    except (idna.IDNAError, UnicodeError):
        return False  # disallowed: encoding the domain refuses it


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _check_domain(domain: str) -> None:
    """Refuse a (Unicode, lower-case, NFC) domain that could pass for another one."""
    base = "."  # the character a combining mark would sit on; a label starts after a dot
    for ch in domain:
        if _is_mark(ch):
            if base.isascii():
                raise InvalidIdentifier("a combining mark on a plain character")
        else:
            base = ch
        if ch.isascii():
            continue
        if _passes_for_ascii(ch):
            raise InvalidIdentifier("a letter that passes for an ASCII one")
        # An accented letter composed in one character: its letter must pass the same
        # check (Cyrillic ӧ is Cyrillic о, which passes for o, with a diaeresis).
        letter, *marks = unicodedata.normalize("NFD", ch)
        accented = bool(marks) and all(_is_mark(m) for m in marks)
        if accented and not letter.isascii() and _passes_for_ascii(letter):
            raise InvalidIdentifier("a letter that passes for an ASCII one")


# RFC 5322 dot-atom: atext characters in runs joined by single dots.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")


def _canonical_domain(domain: str) -> str:
    if any(_dropped_by_idna(ch) for ch in domain):
        raise InvalidIdentifier("invisible character")
    try:
        # UTS 46 mapping: lower case, width, and 。．｡ as dots (before trailing dots go).
        mapped = idna.uts46_remap(domain, std3_rules=True).rstrip(".")
        _check_domain(mapped)
        ascii_domain = idna.encode(mapped).decode("ascii")
        # Punycode is checked as the Unicode it stands for (xn--gmal-nza is "gmaıl").
        _check_domain(idna.decode(ascii_domain))
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidIdentifier("not a valid domain") from exc
    if "." not in ascii_domain:
        raise InvalidIdentifier("a domain needs a dot")
    return ascii_domain


# RFC 5321 4.5.3.1: a path holds at most 256 octets with its brackets, so an address
# at most 254 (every email column's length).
EMAIL_MAX_LENGTH = 254


def canonical_email(value: str) -> str:
    """The canonical form of an email address, or InvalidIdentifier."""
    text = _nfkc(value)
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in text):
        raise InvalidIdentifier("not an email address")
    if not _DOT_ATOM.fullmatch(local):
        raise InvalidIdentifier("not a plain dot-atom before the @")
    canonical = f"{local.lower()}@{_canonical_domain(domain)}"
    if len(canonical) > EMAIL_MAX_LENGTH:
        raise InvalidIdentifier("longer than an email address may be")
    return canonical


def canonical_mobile(value: str, region: str | None) -> str:
    """The E.164 form of a mobile number read with the clinic's region, or InvalidIdentifier."""
    text = _nfkc(str(value or ""))
    if not text:
        raise InvalidIdentifier("empty")
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def canonical_id_number(value: str) -> str:
    """An ID number without separators, digits in ASCII, letters upper-case."""
    text = _nfkc(value)
    out = []
    for ch in text:
        if ch.isdecimal():
            out.append(str(unicodedata.decimal(ch)))
        elif ch.isalpha():
            if not ch.isascii():
                raise InvalidIdentifier("letters outside ASCII")
            out.append(ch.upper())
        elif ch.isspace() or unicodedata.category(ch).startswith("P") or ch in "+~":
            continue  # separators people type: spaces, dashes, dots, slashes
        else:
            raise InvalidIdentifier("not an ID number")
    return "".join(out)


def canonical_contact(channel: str, value: str, region: str | None) -> str:
    """The canonical destination for a channel ("email" or "sms")."""
    if channel == "email":
        return canonical_email(value)
    if channel == "sms":
        return canonical_mobile(value, region)
    raise InvalidIdentifier(f"unknown channel {channel!r}")


def is_canonical_email(value: str) -> bool:
    try:
        return canonical_email(value) == value
    except InvalidIdentifier:
        return False
