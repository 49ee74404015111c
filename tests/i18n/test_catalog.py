"""The French catalogue is complete and its compiled form is in the repository, in step.

``make test`` runs from a fresh clone where gettext may be missing, so ``django.mo`` is
committed. These tests fail when a string is added without a translation, a translation
is fuzzy or loses a placeholder, or the .mo was not recompiled after the .po changed.
Modification times say nothing after a git checkout, so "in step" is checked by content:
the .mo must hold exactly the .po's translations.

To fix a failure:
    python manage.py makemessages -l fr -i ".venv/*" -i "bench/*" -i "tests/*" \
        -i "staticfiles/*" -i "node_modules/*" -i "test-artifacts/*"
    (translate the new entries in locale/fr/LC_MESSAGES/django.po, remove "fuzzy")
    python manage.py compilemessages -l fr -i .venv
"""

import gettext

import pytest

from tests.i18n.catalog import (
    MO_PATH,
    PLACEHOLDER_RE,
    PO_PATH,
    header_fields,
    read_po,
    source_messages,
)

FIX = "run makemessages, translate, then compilemessages (see tests/i18n/test_catalog.py)"


@pytest.fixture(scope="module")
def entries():
    return [e for e in read_po(PO_PATH) if not e.obsolete]


@pytest.fixture(scope="module")
def messages(entries):
    return [e for e in entries if not e.is_header]


def test_the_catalogue_declares_french_and_its_plural_rule(entries):
    fields = header_fields(entries)
    assert fields["Language"] == "fr"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"
    assert fields["Plural-Forms"] == "nplurals=2; plural=(n > 1);"


def test_no_entry_is_fuzzy_not_even_the_header(entries):
    fuzzy = [e.msgid or "(header)" for e in entries if "fuzzy" in e.flags]
    assert not fuzzy, f"fuzzy entries (msgfmt leaves them out): {fuzzy}; {FIX}"


def test_every_message_is_translated(messages):
    assert len(messages) > 700
    missing = [e.msgid for e in messages if not e.translated]
    assert not missing, f"untranslated: {missing}; {FIX}"


def test_plural_messages_have_both_french_forms(messages):
    plurals = [e for e in messages if e.msgid_plural]
    assert plurals
    wrong = [e.msgid for e in plurals if sorted(e.msgstr) != [0, 1]]
    assert not wrong, f"French needs msgstr[0] and msgstr[1]: {wrong}"


def test_translations_keep_every_placeholder(messages):
    broken = []
    for e in messages:
        sources = [e.msgid, e.msgid_plural or e.msgid]
        for slot, text in e.msgstr.items():
            source = sources[min(slot, 1)]
            if sorted(PLACEHOLDER_RE.findall(source)) != sorted(PLACEHOLDER_RE.findall(text)):
                broken.append((e.msgid, text))
    assert not broken, f"placeholders changed: {broken}"


def test_every_translatable_string_in_the_code_is_in_the_catalogue(messages):
    in_catalogue = {e.key for e in messages}
    missing = {key: where for key, where in source_messages().items() if key not in in_catalogue}
    assert not missing, f"strings not in django.po: {missing}; {FIX}"


def test_the_compiled_catalogue_holds_exactly_the_translations_of_the_po(messages):
    assert MO_PATH.exists(), f"{MO_PATH} is missing; {FIX}"
    with MO_PATH.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    expected = {}
    for e in messages:
        key = e.msgid if e.msgctxt is None else f"{e.msgctxt}\x04{e.msgid}"
        if e.msgid_plural:
            expected.update({(key, slot): text for slot, text in e.msgstr.items()})
        else:
            expected[key] = e.msgstr[0]
    actual = {key: text for key, text in compiled._catalog.items() if key != ""}
    stale = sorted(str(k) for k in expected.keys() ^ actual.keys())
    assert not stale, f"django.mo and django.po hold different messages: {stale[:10]}; {FIX}"
    changed = sorted(str(k) for k in expected if expected[k] != actual[k])
    assert not changed, f"django.mo is older than django.po for: {changed[:10]}; {FIX}"


def test_the_compiled_catalogue_uses_the_french_plural_rule():
    with MO_PATH.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    assert [compiled.plural(n) for n in (0, 1, 2, 10)] == [0, 0, 1, 1]
