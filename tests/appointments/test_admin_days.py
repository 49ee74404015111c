"""Front desk picks a day of appointments in the clinic's own time zone, and the list
does not scan every appointment of the clinic to draw its date choices."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.appointments.schedule import local
from tests.clients import staff_client

pytestmark = pytest.mark.django_db

LIST = "/admin/appointments/appointment/"
MONDAY = dt.date(2026, 11, 23)  # the frozen day (conftest.NOW, 8:00 in Toronto)


@pytest.fixture
def visits(visit_at):
    def visit(day, hour, minute=0):
        return visit_at(local(day, hour, minute))

    return {
        "last_week": visit(MONDAY - dt.timedelta(days=7), 9),
        "early_today": visit(MONDAY, 7),  # over before "now"
        "today": visit(MONDAY, 9),
        # 23:30 in Toronto is already Tuesday in UTC: still Monday's list.
        "late_today": visit(MONDAY, 23, 30),
        "tomorrow": visit(MONDAY + dt.timedelta(days=1), 9),
        "in_six_days": visit(MONDAY + dt.timedelta(days=6), 9),
        "in_ten_days": visit(MONDAY + dt.timedelta(days=10), 9),
    }


def _listed(client, visits, day):
    response = client.get(LIST, {"day": day})
    assert response.status_code == 200
    names = {v: k for k, v in visits.items()}
    return sorted(names[a] for a in response.context["cl"].result_list)


@pytest.mark.parametrize(
    "day, expected",
    [
        ("today", ["early_today", "late_today", "today"]),
        ("tomorrow", ["tomorrow"]),
        ("week", ["early_today", "in_six_days", "late_today", "today", "tomorrow"]),
        ("upcoming", ["in_six_days", "in_ten_days", "late_today", "today", "tomorrow"]),
        ("past", ["early_today", "last_week"]),
        ("2026-11-16", ["last_week"]),
        ("2026-11-23", ["early_today", "late_today", "today"]),
        ("2026-11-25", []),
    ],
)
def test_a_day_is_the_clinics_day(frozen, visits, front_desk, day, expected):
    assert _listed(staff_client(front_desk), visits, day) == expected


@pytest.mark.parametrize(
    "day", ["2026-13-45", "tuesday", "9999-12-31", "0001-01-01", "3000-01-01", "2026-11-23x"]
)
def test_a_malformed_day_is_refused_not_a_crash(frozen, visits, front_desk, day):
    response = staff_client(front_desk).get(LIST, {"day": day})
    # The admin's answer to a bad filter value: back to the list with ?e=1.
    assert response.status_code == 302
    assert "e=1" in response["Location"]


def test_the_list_runs_no_distinct_over_the_clinics_appointments(frozen, visits, front_desk):
    client = staff_client(front_desk)
    client.get(LIST)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LIST)
    assert response.status_code == 200
    assert b'name="day"' in response.content  # the date field is there
    assert not [q["sql"] for q in ctx.captured_queries if "DISTINCT" in q["sql"].upper()]
