"""The health record's pages kept whole in the cache (portal/core/open_pages.py,
records/page_cache.py ``cached_document``).

The invariant, as a property over readers, pages, languages, addresses and changes
(Hypothesis): **what a reader gets is byte for byte the page rendered for them now**, but
for the per-request parts (the CSRF token, a masked value that differs on every render).
The reference is the same request rendered past the cache (a fresh key version). Then the
per-request parts themselves: each browser's own CSRF token, which the page's form must
accept; the idle countdown of the request; the accent style's CSP hash; flash messages;
addresses with other queries.

Examples: ``OPEN_PAGES_EXAMPLES`` (default 15).
"""

import datetime as dt
import os
import pickle
import re
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import time_machine
from django.core.cache import cache
from django.db import transaction
from django.middleware.csrf import _unmask_cipher_token
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clinics.models import Clinic
from portal.audit.models import AuditEvent
from portal.core import open_pages
from portal.core.csp import source_hash
from records import page_cache
from records.models import Medication
from tests.clients import portal_client
from tests.clock import NOW
from tests.factories import (
    AllergyFactory,
    DocumentFactory,
    ImmunizationFactory,
    MedicationFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientFactory,
    UserFactory,
)
from tests.records.test_page_cache import record_queries

pytestmark = pytest.mark.django_db

BASE = "/portal/health-record/"
SECTIONS = ("results", "medications", "allergies", "immunizations", "documents")
DAY = dt.timedelta(days=1)
TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")([A-Za-z0-9]+)(")')


def tokens_of(html: str) -> set[str]:
    return {m.group(2) for m in TOKEN.finditer(html)}


def without_tokens(html: str) -> str:
    return TOKEN.sub(r"\1…\3", html)


@contextmanager
def past_the_cache():
    """Requests in this block render their page (a key version nobody stored under)."""
    kept = page_cache.VERSION
    page_cache.VERSION = f"r{os.urandom(3).hex()}"
    try:
        yield
    finally:
        page_cache.VERSION = kept


def fill(chart):
    ObservationFactory(patient=chart, display=f"Ferritin {chart.first_name}", date=NOW - DAY)
    MedicationFactory(patient=chart, display=f"Atorvastatin {chart.first_name}")
    AllergyFactory(patient=chart, display=f"Penicillin {chart.first_name}")
    ImmunizationFactory(patient=chart, display=f"Tetanus {chart.first_name}")
    DocumentFactory(patient=chart, title=f"Visit summary {chart.first_name}")


# --- The property ---------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    reader: str
    section: str
    language: str
    query: str


@dataclass(frozen=True)
class Change:
    what: str


READERS = ("olivia", "olivia_again", "carer", "carer_records_only", "parent", "gerard")
pages = st.tuples(
    st.sampled_from(SECTIONS),
    st.sampled_from(["en", "fr"]),
    st.sampled_from(["", "?page=1", "?page=2", "?page=last", "?page=1&x=<b>"]),
)
changes = st.builds(
    Change, what=st.sampled_from(["rename", "phone", "colour", "new allergy", "new result"])
)


@st.composite
def steps(draw):
    """Views of two or three pages of the record (so that readers meet on the same
    page, as they do in a clinic), by any reader, with changes in between."""
    pool = draw(st.lists(pages, min_size=1, max_size=2, unique=True))
    view = st.builds(
        lambda reader, page: View(reader, *page),
        st.sampled_from(READERS),
        st.sampled_from(pool),
    )
    return draw(st.lists(st.one_of(view, view, view, changes), min_size=3, max_size=12))


def a_world(clinic):
    """Olivia (an adult) with two browsers; her carer with the health record and other
    scopes, and one with the health record alone; Jonah (a child) and his parent; Gerard,
    another patient. Each chart with a row of every section."""
    olivia_chart = PatientFactory(clinic=clinic, first_name="Olivia")
    jonah = PatientFactory(
        clinic=clinic, first_name="Jonah", date_of_birth=(NOW - 5 * 365 * DAY).date()
    )
    gerard = PatientFactory(clinic=clinic, first_name="Gerard")
    for chart in (olivia_chart, jonah, gerard):
        fill(chart)
    olivia = PatientAccessFactory(patient=olivia_chart).user

    def representative(chart, name, relationship, **scopes):
        user = UserFactory(clinic=clinic, username=name, first_name=name.title())
        PatientAccessFactory(patient=chart, user=user, relationship=relationship, **scopes)
        return user

    carer = representative(
        olivia_chart,
        "carer",
        "carer",
        can_health_record=True,
        can_messages=True,
        can_appointments=False,
        can_demographics=True,
    )
    records_only = representative(
        olivia_chart,
        "records",
        "carer",
        can_health_record=True,
        can_messages=False,
        can_appointments=False,
        can_demographics=False,
    )
    parent = representative(jonah, "parent", "parent", can_messages=True)
    return {
        "olivia": portal_client(olivia),
        "olivia_again": portal_client(olivia),
        "carer": portal_client(carer, olivia_chart),
        "carer_records_only": portal_client(records_only, olivia_chart),
        "parent": portal_client(parent, jonah),
        "gerard": portal_client(PatientAccessFactory(patient=gerard).user),
    }, olivia_chart


def change(clinic_pk, chart, what):
    clinic = Clinic.objects.get(pk=clinic_pk)
    if what == "rename":
        clinic.display_name = f"Renamed {os.urandom(3).hex()}"
    elif what == "phone":
        clinic.phone = "+1 613 555 0199" if str(clinic.phone).endswith("0100") else "+16135550100"
    elif what == "colour":
        clinic.accent_colour = "#0b5d1e" if clinic.accent_colour != "#0b5d1e" else "#1d6fa5"
    if what in ("rename", "phone", "colour"):
        clinic.save()
    elif what == "new allergy":
        AllergyFactory(patient=chart, display=f"Latex {os.urandom(3).hex()}")
    else:
        ObservationFactory(patient=chart, display=f"Glucose {os.urandom(3).hex()}", date=NOW)


def response_of(client, view):
    client.cookies["django_language"] = view.language
    return client.get(f"{BASE}{view.section}/{view.query}")


@settings(
    max_examples=int(os.environ.get("OPEN_PAGES_EXAMPLES", "15")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps())
@example(
    steps=[View("carer", "allergies", "en", ""), View("carer_records_only", "allergies", "en", "")]
)
@example(
    steps=[
        View("olivia", "results", "fr", ""),
        Change("colour"),
        View("olivia_again", "results", "fr", ""),
    ]
)
def test_every_page_served_is_the_page_rendered_for_that_reader_now(clinic, steps):
    cache.clear()
    try:
        with time_machine.travel(NOW, tick=False), transaction.atomic():
            clients, olivia_chart = a_world(clinic)
            for step in steps:
                if isinstance(step, Change):
                    change(clinic.pk, olivia_chart, step.what)
                    continue
                client = clients[step.reader]
                served = response_of(client, step)
                with past_the_cache():
                    rendered = response_of(client, step)
                assert served.status_code == rendered.status_code == 200, step
                body, reference = served.content.decode(), rendered.content.decode()
                assert without_tokens(body) == without_tokens(reference), step
                assert served["Content-Security-Policy"] == rendered["Content-Security-Policy"]
                assert len(tokens_of(body)) == 1  # one token, in every form of the page
            transaction.set_rollback(True)
    finally:
        cache.clear()


@pytest.mark.parametrize("first", READERS)
def test_whoever_stored_a_page_each_reader_gets_their_own(clinic, first):
    """Every ordered pair of readers on one page: the first stores it, each other reads
    what the cache holds for them, which must be what is rendered for them."""
    with time_machine.travel(NOW, tick=False):
        clients, _chart = a_world(clinic)
        page = View(first, "medications", "en", "")
        for second in READERS:
            cache.clear()
            assert response_of(clients[first], page).status_code == 200
            then = View(second, "medications", "en", "")
            served = response_of(clients[second], then)
            with past_the_cache():
                rendered = response_of(clients[second], then)
            assert without_tokens(served.content.decode()) == without_tokens(
                rendered.content.decode()
            ), (first, second)


# --- The parts left open ----------------------------------------------------------------------


@pytest.fixture
def chart(clinic):
    chart = PatientFactory(clinic=clinic, first_name="Olivia")
    fill(chart)
    return chart


@pytest.fixture
def olivia(chart):
    return PatientAccessFactory(patient=chart).user


def test_each_browser_gets_its_own_csrf_token_and_the_form_takes_only_its_own(olivia):
    """Olivia's phone stores the Results page, her laptop gets it from the cache: the
    laptop's page holds the laptop's token, which its form posts; the phone's is refused."""
    phone = portal_client(olivia, enforce_csrf_checks=True)
    laptop = portal_client(olivia, enforce_csrf_checks=True)
    url = BASE + "results/"
    assert record_queries(phone, url) > 0
    assert record_queries(laptop, url) == 0  # from the cache
    (phone_token,) = tokens_of(phone.get(url).content.decode())
    (laptop_token,) = tokens_of(laptop.get(url).content.decode())
    laptop_secret = laptop.cookies["csrftoken"].value
    assert _unmask_cipher_token(laptop_token) == laptop_secret
    assert _unmask_cipher_token(phone_token) != laptop_secret
    post = BASE + "results/preference/"
    refused = laptop.post(post, {"wait_for_review": "on", "csrfmiddlewaretoken": phone_token})
    assert refused.status_code == 403
    taken = laptop.post(post, {"wait_for_review": "on", "csrfmiddlewaretoken": laptop_token})
    assert taken.status_code == 302


def test_the_idle_countdown_is_the_requests_own(frozen, olivia):
    client = portal_client(olivia)
    url = BASE + "allergies/"
    first = re.search(r'data-idle-left="(\d+)"', client.get(url).content.decode())
    frozen.shift(dt.timedelta(seconds=25))
    assert record_queries(client, url) == 0  # from the cache
    second = re.search(r'data-idle-left="(\d+)"', client.get(url).content.decode())
    assert int(first.group(1)) - int(second.group(1)) == 25


def test_a_page_from_the_cache_allows_the_clinics_accent_style(clinic, olivia):
    client = portal_client(olivia)
    url = BASE + "immunizations/"
    client.get(url)
    assert record_queries(client, url) == 0
    response = client.get(url)
    style = re.search(r"<style>(.*?)</style>", response.content.decode()).group(1)
    assert source_hash(style) in response["Content-Security-Policy"]


def test_a_flash_message_shows_once_and_its_page_is_not_kept(clinic, chart, olivia):
    client = portal_client(olivia)
    medication = Medication.objects.get(patient=chart)
    url = BASE + "medications/"
    client.get(url)  # stored, without a message
    answer = client.post(
        f"{BASE}medications/{medication.pk}/refill/", {"pharmacy_note": "Main Street pharmacy"}
    )
    assert answer.status_code == 302
    shown = client.get(answer["Location"]).content.decode()
    assert "Your refill request was sent to the clinic" in shown
    again = client.get(url).content.decode()
    assert "Your refill request was sent to the clinic" not in again
    assert "Refill requested on" in again


def test_an_address_with_another_query_is_rendered_and_not_kept(olivia):
    client = portal_client(olivia)
    url = BASE + "documents/?page=1&utm=spring"
    assert record_queries(client, url) > 0
    assert record_queries(client, url) > 0  # not kept
    html = client.get(url).content.decode()
    assert 'name="next" value="/portal/health-record/documents/?page=1&amp;utm=spring"' in html
    assert AuditEvent.objects.filter(action="record.viewed").count() == 3


def test_the_language_switch_of_a_cached_page_returns_to_that_page(olivia):
    client = portal_client(olivia)
    for url in (BASE + "results/", BASE + "results/?page=2"):
        client.get(url)
        html = client.get(url).content.decode()
        assert f'name="next" value="{url.replace("&", "&amp;")}"' in html


def test_a_renamed_clinic_shows_its_new_name_on_a_cached_page(clinic, olivia):
    client = portal_client(olivia)
    url = BASE + "allergies/"
    client.get(url)
    clinic.display_name = "Riverside Family Practice"
    clinic.save()
    assert "Riverside Family Practice" in client.get(url).content.decode()


@pytest.mark.parametrize("query", ["?page=000001", "?page=7", "?page=last"])
def test_another_spelling_of_a_page_number_is_rendered_and_not_kept(olivia, query):
    """Only a page's own number is kept: "007", "last" or a number past the end would
    each be an entry of its own, and a reader could fill the cache with them."""
    client = portal_client(olivia)
    url = BASE + "allergies/" + query
    assert record_queries(client, url) > 0
    assert record_queries(client, url) > 0
    assert record_queries(client, BASE + "allergies/?page=1") > 0
    assert record_queries(client, BASE + "allergies/?page=1") == 0


def test_a_stored_value_of_another_shape_or_that_does_not_unpickle_is_a_miss(monkeypatch, olivia):
    """During a deploy, old and new processes share keys: an entry the new code cannot
    use is rendered again, never a 500."""
    client = portal_client(olivia)
    url = BASE + "immunizations/"
    stored = {}
    real_set = cache.set
    monkeypatch.setattr(cache, "set", lambda key, value, *a: stored.update({key: value}))
    assert record_queries(client, url) > 0
    monkeypatch.undo()
    ((key, (versions, _page)),) = [each for each in stored.items() if ":immunizations:" in each[0]]
    real_set(key, (versions, ("<ul>the list alone, as stored before</ul>", None)))
    assert record_queries(client, url) > 0  # not taken for a page
    assert record_queries(client, url) == 0

    real_get_many = cache.get_many

    def unpicklable(keys, *args, **kwargs):
        if any(":immunizations:" in key for key in keys):  # the page, not the versions alone
            raise pickle.UnpicklingError("written by other code")
        return real_get_many(keys, *args, **kwargs)

    monkeypatch.setattr(cache, "get_many", unpicklable)
    assert "Tetanus Olivia" in client.get(url).content.decode()


def test_a_deploy_that_changes_a_template_or_a_translation_stores_pages_anew(monkeypatch, tmp_path):
    templates, locale = tmp_path / "templates", tmp_path / "locale"
    (templates / "records").mkdir(parents=True)
    (locale / "fr" / "LC_MESSAGES").mkdir(parents=True)
    base = templates / "base.html"
    base.write_text("<header>one</header>")
    catalogue = locale / "fr" / "LC_MESSAGES" / "django.mo"
    catalogue.write_bytes(b"one")
    engine = SimpleNamespace(engine=SimpleNamespace(dirs=[templates]))
    monkeypatch.setattr(open_pages, "engines", {"django": engine})
    monkeypatch.setattr(open_pages.settings, "LOCALE_PATHS", [locale])

    def version():
        open_pages.code_version.cache_clear()
        return open_pages.code_version()

    try:
        first = version()
        assert version() == first
        base.write_text("<header>two</header>")
        second = version()
        catalogue.write_bytes(b"two")
        assert len({first, second, version()}) == 3
    finally:
        open_pages.code_version.cache_clear()


@pytest.mark.parametrize("section", SECTIONS)
def test_a_representative_is_told_whom_they_act_for_the_patient_is_not(clinic, section):
    clients, chart = a_world(clinic)
    url = f"{BASE}{section}/"
    for _view in range(2):  # rendered, then from the cache
        carer = clients["carer"].get(url).content.decode()
        assert f"You are acting for {chart.full_name}." in carer
        assert "You are acting for" not in clients["olivia"].get(url).content.decode()
