"""Front desk finds a chart by phone number written any way, and by date of birth in the
clinic's usual formats; each an equality on an indexed column of the clinic's charts
(bench/scale.py times them at a million charts)."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import translation

from patients.models import Patient
from patients.selectors import search_charts
from portal.core.dates import parse_typed_date
from tests.clients import staff_client
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/patients/patient/"


@pytest.fixture
def charts(clinic, other_clinic):
    noah = PatientFactory(
        clinic=clinic,
        first_name="Noah",
        mobile="+16135550112",
        date_of_birth=dt.date(1958, 3, 14),
    )
    emma = PatientFactory(
        clinic=clinic,
        first_name="Emma",
        home_phone="+16135550112",  # the same household's landline
        date_of_birth=dt.date(1990, 1, 2),
    )
    PatientFactory(clinic=clinic, first_name="Liam", mobile="+16135550113")
    PatientFactory(
        clinic=other_clinic,
        first_name="Theirs",
        mobile="+16135550199",
        date_of_birth=dt.date(1958, 3, 15),
    )
    return noah, emma


def _found(client, q):
    response = client.get(CHANGELIST, {"q": q})
    assert response.status_code == 200
    return sorted(p.first_name for p in response.context["cl"].result_list)


@pytest.mark.parametrize(
    "q",
    [
        "613 555 0112",
        "(613) 555-0112",
        "613-555-0112",
        "6135550112",
        "+1 613 555 0112",
        "+16135550112",
        "1 (613) 555.0112",
        "６１３ ５５５ ０１１２",
    ],
)
def test_it_finds_a_chart_by_phone_written_any_way(charts, front_desk, q):
    # The mobile of one chart and the home phone of another.
    assert _found(staff_client(front_desk), q) == ["Emma", "Noah"]


def test_it_never_finds_another_clinics_chart_by_phone(charts, front_desk):
    assert _found(staff_client(front_desk), "613 555 0199") == []


@pytest.mark.parametrize(
    "q, language",
    [
        ("1958-03-14", "en"),
        ("14/03/1958", "en"),
        ("14/03/1958", "fr"),
        ("March 14 1958", "en"),
        ("March 14, 1958", "en"),
        ("14 March 1958", "en"),
        ("Mar 14 1958", "en"),
        ("14 mars 1958", "fr"),
    ],
)
def test_it_finds_a_chart_by_date_of_birth_in_the_usual_formats(charts, front_desk, q, language):
    client = staff_client(front_desk)
    client.cookies["django_language"] = language
    assert _found(client, q) == ["Noah"]


def test_a_date_of_birth_search_ignores_another_clinic(charts, front_desk):
    assert _found(staff_client(front_desk), "15/03/1958") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1958-03-14", dt.date(1958, 3, 14)),
        ("14/03/1958", dt.date(1958, 3, 14)),
        ("14.03.1958", dt.date(1958, 3, 14)),
        ("14 février 1958", dt.date(1958, 2, 14)),
        ("Feb 14th, 1958", dt.date(1958, 2, 14)),
        ("31/02/1958", None),  # no such day
        ("03/14/1958", None),  # day first: there is no 14th month
        ("ann smith", None),
        ("1958", None),
        ("613 555 0112", None),
    ],
)
def test_typed_dates_are_read_day_first_with_month_names_in_both_languages(text, expected):
    assert parse_typed_date(text) == expected


def test_words_and_digits_that_are_no_phone_still_search_names(clinic, front_desk):
    PatientFactory(clinic=clinic, first_name="Ann", email="ann.2024@example.com")
    assert _found(staff_client(front_desk), "ann.2024") == ["Ann"]


def test_the_search_help_names_phone_and_date_of_birth(front_desk):
    with translation.override("en"):
        page = staff_client(front_desk).get(CHANGELIST).content.decode()
    assert "phone (613 555 0112)" in page and "14/03/1958" in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN of PostgreSQL's plans")
@pytest.mark.parametrize(
    "q, indexes",
    [
        ("(613) 555-0112", {"patient_clinic_mobile", "patient_clinic_home_phone"}),
        ("14/03/1958", {"patient_clinic_dob"}),
    ],
)
def test_postgresql_answers_phone_and_birth_date_searches_from_their_indexes(
    clinic, charts, q, indexes
):
    start = dt.date(1930, 1, 1)
    Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            first_name="Many",
            last_name=f"Chart{n}",
            date_of_birth=start + dt.timedelta(days=n % 20000),
            mobile=f"+1613{2000000 + n:07d}",
            home_phone=f"+1819{2000000 + n:07d}",
        )
        for n in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_patient")
    queryset = search_charts(Patient.objects.for_clinic(clinic), q, clinic=clinic)
    sql, params = queryset.query.get_compiler(using="default").as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for index in indexes:
        assert index in plan, plan
    assert "Seq Scan" not in plan, plan
