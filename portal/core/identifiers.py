"""Canonical identifiers: the one place where a typed email, mobile or ID number
becomes the form that is stored and compared.

Every identity decision compares canonical strings by exact equality, in Python or on a
stored column. Nothing compares them with the database's case folding (``iexact``,
``UPPER``, ``LOWER``): SQLite and PostgreSQL fold differently (PostgreSQL's
``UPPER('ı')`` is ``'I'``), and a look-alike must never reach another person's account.

The rules, so that two strings that display the same reach the same account or are
refused, and different strings never reach the same account:

- **Email**: Unicode NFKC (full-width ``ｏｌｉｖｉａ`` and ``ﬁ`` ligatures become ASCII),
  surrounding white space removed. The part before ``@`` must then be plain ASCII
  (letters outside ASCII are refused: ``olıvia`` with a dotless ı would otherwise display
  like ``olivia``) and is lower-cased (every mail provider the clinics' patients use
  treats it case-blind). The domain is IDNA-encoded (UTS 46): ``Exämple.com`` is stored
  as ``xn--exmple-cua.com``. A domain with a character that Unicode's confusables list
  as looking like an ASCII one is refused: ``gmaıl.com`` (dotless ı) and ``gmаil.com``
  (Cyrillic а) would send a code to a domain anyone can register while displaying as
  gmail.com. Accented letters (``café.fr``, ``bücher.de``) and other scripts are kept.
- **Mobile**: parsed by ``phonenumbers`` with the clinic's region (full-width and other
  digits included), valid numbers only, stored as E.164 (``+16135550123``).
- **ID number**: NFKC, every decimal digit of any script as its ASCII digit, letters
  upper-cased, separators (spaces, dashes, dots, slashes) removed. Letters outside ASCII
  are refused.

Zero-width and other invisible characters are refused everywhere rather than dropped, so
that a pasted address that looks right but is not is caught where it is typed.
"""

import functools
import unicodedata

import idna
import phonenumbers
from confusable_homoglyphs import confusables


class InvalidIdentifier(ValueError):  # noqa: N818 - the condition a form reports
    """The text cannot be made into a canonical identifier (or would pass for another)."""


def _nfkc(value: str) -> str:
    text = unicodedata.normalize("NFKC", value or "").strip()
    for ch in text:
        # Cf: zero-width joiners, bidi controls, soft hyphens; Cc: control characters;
        # Zs inside a value: a space someone did not mean (or meant to hide).
        if unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cn", "Zl", "Zp"):
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


def _check_domain(domain: str) -> None:
    for ch in domain:
        if not ch.isascii() and _passes_for_ascii(ch):
            raise InvalidIdentifier("a letter that passes for an ASCII one")


def canonical_email(value: str) -> str:
    """The canonical form of an email address, or InvalidIdentifier."""
    text = _nfkc(value)
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in text):
        raise InvalidIdentifier("not an email address")
    if not local.isascii() or '"' in local or "@" in local:
        raise InvalidIdentifier("letters outside ASCII before the @")
    domain = domain.rstrip(".")
    unicode_domain = domain.lower()
    _check_domain(unicode_domain)
    try:
        ascii_domain = idna.encode(unicode_domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidIdentifier("not a valid domain") from exc
    # Also refuse punycode that decodes to a refused domain (xn--gmal-nza is "gmaıl").
    if "xn--" in ascii_domain:
        try:
            _check_domain(idna.decode(ascii_domain))
        except idna.IDNAError as exc:
            raise InvalidIdentifier("not a valid domain") from exc
    if "." not in ascii_domain:
        raise InvalidIdentifier("a domain needs a dot")
    return f"{local.lower()}@{ascii_domain.lower()}"


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
