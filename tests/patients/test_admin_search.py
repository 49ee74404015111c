"""Front desk finds a chart by ID number, name or email, and the patient list stays cheap
however many charts the clinic has (bench/scale.py times it at a million)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinics.scoped_admin import BoundedCountPaginator
from tests.clients import staff_client
from tests.factories import PatientFactory, PatientIdentifierFactory, ProviderFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/patients/patient/"


@pytest.fixture
def charts(clinic, other_clinic):
    ann = PatientFactory(
        clinic=clinic, first_name="Ann", last_name="Smith", email="ann.smith@example.com"
    )
    anna = PatientFactory(
        clinic=clinic, first_name="Annabel", last_name="Jones", email="a.jones2@example.com"
    )
    bob = PatientFactory(
        clinic=clinic, first_name="Bob", last_name="Smithers", email="bob@example.com"
    )
    theirs = PatientFactory(
        clinic=other_clinic, first_name="Ann", last_name="Smith", email="ann@example.com"
    )
    PatientIdentifierFactory(patient=ann, number="1234-567-890")
    PatientIdentifierFactory(patient=bob, number="AB 12 34")
    PatientIdentifierFactory(patient=theirs, number="5555555555")
    return {"ann": ann, "anna": anna, "bob": bob, "theirs": theirs}


def _found(client, q):
    response = client.get(CHANGELIST, {"q": q})
    assert response.status_code == 200
    return sorted(str(p.first_name) for p in response.context["cl"].result_list)


@pytest.mark.parametrize(
    "q, expected",
    [
        ("1234567890", ["Ann"]),  # stored as typed at the desk, found without the dashes
        ("1234 567 890", ["Ann"]),
        ("ab-12-34", ["Bob"]),  # letters in any case, any separators
        ("Smith", ["Ann", "Bob"]),  # Smith and Smithers
        ("ann smith", ["Ann"]),  # every word must match a first or last name
        ("smith ann", ["Ann"]),
        ("ann smi", ["Ann"]),
        ("ann", ["Ann", "Annabel"]),
        ("bob@example.com", ["Bob"]),
        ("a.jones2", ["Annabel"]),  # digits, but no such ID number: names and email
        ("5555555555", []),  # another clinic's ID number
        ("Nobody", []),
    ],
)
def test_search_by_id_number_name_or_email(charts, front_desk, q, expected):
    assert _found(staff_client(front_desk), q) == expected


def test_an_empty_search_lists_every_chart_of_the_clinic(charts, front_desk):
    assert _found(staff_client(front_desk), "  ") == ["Ann", "Annabel", "Bob"]


def test_search_runs_no_distinct_and_a_fixed_number_of_queries(charts, front_desk, clinic):
    client = staff_client(front_desk)
    client.get(CHANGELIST)  # warm: session, tenant cache

    def queries(q):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(CHANGELIST, {"q": q}).status_code == 200
        return [c["sql"] for c in ctx.captured_queries]

    by_number = queries("1234567890")
    by_name = queries("ann smith")
    for sql in by_number + by_name:
        assert "DISTINCT" not in sql.upper()
    for _ in range(5):
        PatientFactory(clinic=clinic, first_name="Ann", last_name="Smith")
    assert len(queries("ann smith")) == len(by_name)
    # The ID probe replaces the name search: one query more, none per chart.
    assert len(by_number) == len(by_name) + 1


def test_the_changelist_cost_does_not_grow_with_the_clinic(front_desk, clinic):
    provider = ProviderFactory(clinic=clinic)
    PatientFactory.create_batch(3, clinic=clinic, primary_provider=provider)
    client = staff_client(front_desk)
    client.get(CHANGELIST)

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(CHANGELIST).status_code == 200
        return [c["sql"] for c in ctx.captured_queries]

    few = queries()
    PatientFactory.create_batch(20, clinic=clinic, primary_provider=ProviderFactory(clinic=clinic))
    many = queries()
    assert len(many) == len(few)
    # Related filters list the clinic's providers and categories, never a DISTINCT over
    # every chart; the list is counted once, not twice.
    assert not [sql for sql in many if "DISTINCT" in sql.upper()]
    assert len([sql for sql in many if "COUNT(" in sql.upper()]) == 1


def test_the_provider_filter_offers_every_provider_of_the_clinic_only(
    charts, front_desk, clinic, other_clinic
):
    ProviderFactory(clinic=clinic, name="Dr Newcomer")  # no charts yet
    ProviderFactory(clinic=other_clinic, name="Dr Elsewhere")
    content = staff_client(front_desk).get(CHANGELIST).content.decode()
    assert "Dr Newcomer" in content
    assert "Dr Elsewhere" not in content


def test_lists_are_counted_exactly_up_to_the_bound(clinic, monkeypatch):
    from patients.models import Patient

    PatientFactory.create_batch(4, clinic=clinic)
    charts = Patient.objects.for_clinic(clinic).order_by("last_name", "id")
    monkeypatch.setattr(BoundedCountPaginator, "EXACT_UP_TO", 4)
    assert BoundedCountPaginator(charts, 2).count == 4
    monkeypatch.setattr(BoundedCountPaginator, "EXACT_UP_TO", 3)
    count = BoundedCountPaginator(charts, 2).count
    if connection.vendor == "postgresql":
        # Above the bound PostgreSQL's estimate is shown, never less than what was read.
        assert count >= 4
    else:
        assert count == 4


def test_the_list_shows_fifty_charts_a_page(front_desk, clinic):
    PatientFactory.create_batch(51, clinic=clinic)
    client = staff_client(front_desk)
    first = client.get(CHANGELIST).context["cl"]
    assert (len(first.result_list), first.result_count) == (50, 51)
    assert len(client.get(CHANGELIST, {"p": 2}).context["cl"].result_list) == 1
