"""``Appointment?date=`` (an EHR reading a day of the clinic's visits): a page costs the
same few statements however many visits the day holds and whichever page it is."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from appointments.models import Appointment
from tests.factories import AppointmentTypeFactory, PatientFactory, ProviderFactory
from tests.fhir.smart import get_token, register
from tests.fhir.test_api import Api, parses

pytestmark = pytest.mark.django_db
DAY = dt.date(2030, 1, 16)


@pytest.fixture
def api(frozen, clinic):
    return Api(get_token(Client(), register(clinic)))


def book_day(clinic, providers, per_provider):
    """``per_provider`` quarter-hour visits from 9:00 for each of ``providers`` new
    providers, each visit with a patient of its own."""
    kind = AppointmentTypeFactory(clinic=clinic, duration_minutes=15)
    nine = dt.datetime.combine(DAY, dt.time(9), tzinfo=clinic.tz)
    patients = [PatientFactory(clinic=clinic) for _ in range(per_provider)]
    for _ in range(providers):
        provider = ProviderFactory(clinic=clinic, appointment_types=[kind])
        Appointment.objects.bulk_create(
            Appointment(
                clinic=clinic,
                patient=patient,
                provider=provider,
                appointment_type=kind,
                start=nine + i * dt.timedelta(minutes=15),
                end=nine + (i + 1) * dt.timedelta(minutes=15),
            )
            for i, patient in enumerate(patients)
        )


def pages(api, count):
    """Statements and visits of every page of the day, following the ``next`` links."""
    url, seen = f"/fhir/R4/Appointment?date={DAY.isoformat()}&_count={count}", []
    while url:
        with CaptureQueriesContext(connection) as queries:
            response = api.http.get(url)
        assert response.status_code == 200, response.content
        bundle = parses(response.json())
        seen.append((len(queries), len(bundle["entry"])))
        nexts = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nexts[0].removeprefix("http://demo.localhost") if nexts else None
    return seen


def test_a_page_of_a_day_costs_the_same_statements_for_a_few_visits_or_many(api, clinic):
    book_day(clinic, providers=1, per_provider=2)
    (few,) = pages(api, 50)
    book_day(clinic, providers=4, per_provider=13)  # 54 visits that day: a page and more

    first, second = pages(api, 50)

    assert few == (few[0], 2)
    assert (first, second) == ((few[0], 50), (few[0], 4))
    # The token, the page of visits (with their versions, providers and types in the same
    # statement) and the audit event.
    assert few[0] <= 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN of PostgreSQL's plans")
def test_a_later_page_starts_its_index_scan_at_the_cursor_not_at_midnight(api, clinic):
    """Page 96 of a 19,200-visit day read every earlier page's rows and threw them away
    while the cursor was only a filter; it must bound the scan of (clinic, start)."""
    kind = AppointmentTypeFactory(clinic=clinic, duration_minutes=15)
    patient = PatientFactory(clinic=clinic)
    midnight = dt.datetime.combine(DAY, dt.time(0), tzinfo=clinic.tz) - dt.timedelta(days=2)
    for _ in range(20):
        provider = ProviderFactory(clinic=clinic, appointment_types=[kind])
        Appointment.objects.bulk_create(
            Appointment(
                clinic=clinic,
                patient=patient,
                provider=provider,
                appointment_type=kind,
                start=midnight + i * dt.timedelta(minutes=15),
                end=midnight + (i + 1) * dt.timedelta(minutes=15),
            )
            for i in range(96 * 5)
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE appointments_appointment")
    first = api.get("Appointment", date=DAY.isoformat(), _count=200).json()
    (later,) = [link["url"] for link in first["link"] if link["relation"] == "next"]
    cursor_start = first["entry"][-1]["resource"]["start"]  # an instant in UTC, "…Z"
    with CaptureQueriesContext(connection) as queries:
        assert api.http.get(later.removeprefix("http://demo.localhost")).status_code == 200
    (sql,) = [q["sql"] for q in queries if 'FROM "appointments_appointment"' in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = [row[0] for row in cursor.fetchall()]

    bound = cursor_start.replace("T", " ").replace("Z", "+00")
    index_conditions = [line for line in plan if "Index Cond" in line]
    assert any(f"start >= '{bound}'" in line for line in index_conditions), "\n".join(plan)
