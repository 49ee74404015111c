"""Canonical identifiers: every spelling of one contact or ID is one string, and a
look-alike is refused rather than reaching someone else."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.core.identifiers import (
    InvalidIdentifier,
    canonical_email,
    canonical_id_number,
    canonical_mobile,
)


def _full_width(text):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    "typed",
    [
        "olivia@example.com",
        "Olivia@Example.COM",
        "  olivia@example.com ",
        _full_width("olivia@example.com"),
        "olivia@example.com.",
    ],
)
def test_spellings_of_one_email_are_one_canonical_email(typed):
    assert canonical_email(typed) == "olivia@example.com"


@pytest.mark.parametrize(
    "look_alike",
    [
        "olıvia@example.com",  # dotless ı before the @
        "olivia@gmaıl.com",  # dotless ı in the domain
        "olivia@gmаil.com",  # Cyrillic а
        "olivia@xn--gmal-nza.com",  # the punycode of gmaıl.com
        "oli\u200bvia@example.com",  # a zero-width space
        "olivia@раураl.com",  # a whole-Cyrillic look-alike of paypal
        '"olivia"@example.com',
        "olivia@@example.com",
        "olivia",
    ],
)
def test_look_alike_emails_are_refused(look_alike):
    with pytest.raises(InvalidIdentifier):
        canonical_email(look_alike)


def test_an_accented_domain_is_kept_in_its_idna_form():
    assert canonical_email("ana@Café.fr") == "ana@xn--caf-dma.fr"


@pytest.mark.parametrize(
    "typed", ["613 555 0123", "(613) 555-0123", "+1 613-555-0123", _full_width("6135550123")]
)
def test_spellings_of_one_mobile_are_one_e164_number(typed):
    assert canonical_mobile(typed, "CA") == "+16135550123"


@pytest.mark.parametrize("bad", ["12", "not a number", "613 555 0123\u200b", ""])
def test_a_mobile_that_is_not_one_is_refused(bad):
    with pytest.raises(InvalidIdentifier):
        canonical_mobile(bad, "CA")


@pytest.mark.parametrize(
    "typed", ["4567 891 234", "4567-891-234", _full_width("4567891234"), "٤٥٦٧٨٩١٢٣٤"]
)
def test_spellings_of_one_id_number_are_one_canonical_number(typed):
    assert canonical_id_number(typed) == "4567891234"


def test_an_id_number_with_a_look_alike_letter_is_refused():
    with pytest.raises(InvalidIdentifier):
        canonical_id_number("AΒ12")  # Greek capital beta


emails = st.from_regex(
    r"[a-z0-9._+-]{1,12}@[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\.(com|org|ca)", fullmatch=True
)


@given(emails)
def test_canonical_emails_are_ascii_and_canonical_again(email):
    canonical = canonical_email(email)
    assert canonical.isascii()
    assert canonical_email(canonical) == canonical


@given(emails, st.lists(st.sampled_from(["upper", "width", "space"]), max_size=3))
def test_case_width_and_spacing_never_change_the_canonical_email(email, changes):
    typed = email
    for change in changes:
        typed = {"upper": str.upper, "width": _full_width, "space": lambda t: f" {t} "}[change](
            typed
        )
    assert canonical_email(typed) == canonical_email(email)


@given(st.text(min_size=1, max_size=30))
def test_any_text_is_canonical_or_refused_never_an_error(text):
    for canonicalise in (canonical_email, canonical_id_number):
        try:
            value = canonicalise(text)
        except InvalidIdentifier:
            continue
        assert value.isascii()
        assert canonicalise(value) == value
