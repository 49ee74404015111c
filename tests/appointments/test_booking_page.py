"""The patient's booking page: type and provider first, then a week at a time inside the
clinic's booking window, computed for that week only, in a fixed number of queries."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from appointments import selectors
from tests.appointments.schedule import NOW, local
from tests.clients import portal_client
from tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    AvailabilityExceptionFactory,
    ProviderFactory,
    portal_settings_of,
)

pytestmark = pytest.mark.django_db

BOOK = "/portal/appointments/book/"
MONDAY = NOW.date()  # the frozen day, 8:00 in Toronto
NEXT_MONDAY = MONDAY + dt.timedelta(days=7)


def _page(grant, **query):
    response = portal_client(grant.user, grant.patient).get(BOOK, query)
    assert response.status_code == 200
    return response


def _slots(response):
    """[(provider id, start)] of the slot buttons, in page order."""
    return [
        (int(provider), dt.datetime.fromisoformat(start))
        for provider, start in re.findall(
            r'name="slot" value="(\d+)\|([^"]+)"', response.content.decode()
        )
    ]


def _query_count(client, query):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(BOOK, query)
    assert response.status_code == 200
    return len(queries)


def test_it_shows_this_week_and_states_the_booking_window(
    grant, provider, visit_type, booking_rules, frozen
):
    portal_settings_of(grant.clinic, booking_window_days=30)
    response = _page(grant, appointment_type=visit_type.pk)
    content = response.content.decode()
    assert "You can book up to 30 days ahead." in content
    assert "Week of Monday 23 November<" in content  # this year: no year
    days = {start.astimezone(provider.clinic.tz).date() for _p, start in _slots(response)}
    assert days == {MONDAY + dt.timedelta(days=i) for i in range(5)}
    assert "No free times: Saturday 28 November, Sunday 29 November" in content
    assert "Previous week" not in content
    assert f"week={NEXT_MONDAY.isoformat()}" in content


def test_next_week_keeps_the_type_and_provider_and_links_back(
    grant, provider, colleague, visit_type, booking_rules, frozen
):
    response = _page(
        grant, appointment_type=visit_type.pk, provider=colleague.pk, week="2026-12-02"
    )
    content = response.content.decode()
    assert "Week of Monday 30 November" in content
    slots = _slots(response)
    assert {p for p, _s in slots} == {colleague.pk}
    assert min(s for _p, s in slots) == local(NEXT_MONDAY, 9)
    previous = f"?appointment_type={visit_type.pk}&amp;provider={colleague.pk}&amp;week=2026-11-23"
    assert previous in content


def test_a_week_in_another_year_names_the_year(grant, provider, visit_type, booking_rules, frozen):
    content = _page(grant, appointment_type=visit_type.pk, week="2027-01-06").content.decode()
    assert "Week of Monday 4 January 2027" in content
    assert "Wednesday 6 January 2027" in content


def test_a_week_beyond_the_window_is_explained_never_moved(
    grant, provider, visit_type, booking_rules, frozen
):
    portal_settings_of(grant.clinic, booking_window_days=30)
    response = _page(grant, appointment_type=visit_type.pk, week="2027-06-01")
    content = response.content.decode()
    assert "Week of Monday 31 May 2027" in content
    assert "further ahead than the clinic takes bookings: up to 30 days ahead, until" in content
    assert "Wednesday 23 December 2026" in content
    assert not _slots(response)
    assert "week=2026-12-21" in content  # the last week one can book
    assert "Next week" not in content


def test_a_past_week_is_explained_with_a_link_to_this_week(
    grant, provider, visit_type, booking_rules, frozen
):
    response = _page(grant, appointment_type=visit_type.pk, week="2026-11-10")
    content = response.content.decode()
    assert "That week has passed." in content
    assert not _slots(response)
    assert "week=2026-11-23" in content


def test_the_last_week_offers_only_the_days_inside_the_window(
    grant, provider, visit_type, booking_rules, frozen
):
    portal_settings_of(grant.clinic, booking_window_days=9)  # until Wednesday 2 December, 8:00
    response = _page(grant, appointment_type=visit_type.pk, week=NEXT_MONDAY.isoformat())
    content = response.content.decode()
    days = {s.astimezone(provider.clinic.tz).date() for _p, s in _slots(response)}
    assert days == {NEXT_MONDAY, NEXT_MONDAY + dt.timedelta(days=1)}
    assert "No free times: Wednesday 2 December" in content  # its hours start after 8:00
    assert "Not open for booking yet: Thursday 3 December, Friday 4 December" in content
    assert "Next week" not in content


def test_any_provider_offers_each_time_once_with_the_first_free_provider(
    grant, provider, colleague, visit_type, booking_rules, frozen
):
    # Dr Bell (first by name) is busy at 9:00; Dr Osei is not.
    AppointmentFactory(
        patient=grant.patient,
        provider=colleague,
        appointment_type=visit_type,
        start=local(MONDAY, 9),
    )
    slots = _slots(_page(grant, appointment_type=visit_type.pk))
    starts = [s for _p, s in slots]
    assert len(starts) == len(set(starts)) == 12 * 5
    by_start = {s: p for p, s in slots}
    assert by_start[local(MONDAY, 9)] == provider.pk
    assert by_start[local(MONDAY, 9, 15)] == colleague.pk


def test_a_provider_who_does_not_offer_the_type_is_said_so(
    grant, provider, visit_type, booking_rules, frozen
):
    other_type = AppointmentTypeFactory(clinic=grant.clinic, name="Vaccination")
    ProviderFactory(clinic=grant.clinic, name="Nurse Lee", appointment_types=[other_type])
    page = _page(grant, appointment_type=visit_type.pk)
    content = page.content.decode()
    assert ">Nurse Lee</option>" in content and ">Dr Osei</option>" in content
    nurse = page.context["form"].fields["provider"].queryset.get(name="Nurse Lee")
    refused = _page(grant, appointment_type=visit_type.pk, provider=nurse.pk)
    assert "Nurse Lee does not offer Regular visit." in refused.content.decode()
    assert not _slots(refused)


def test_it_computes_free_times_for_the_week_shown_only(
    grant, provider, visit_type, booking_rules, frozen, monkeypatch
):
    asked = []
    compute = selectors.first_free_provider

    def recorded(**kwargs):
        asked.append((kwargs["start_date"], kwargs["days"]))
        return compute(**kwargs)

    monkeypatch.setattr(selectors, "first_free_provider", recorded)
    _page(grant, appointment_type=visit_type.pk)  # this week: from today, Monday
    _page(grant, appointment_type=visit_type.pk, week="2027-03-03")
    portal_settings_of(grant.clinic, booking_window_days=9)
    _page(grant, appointment_type=visit_type.pk, week=NEXT_MONDAY.isoformat())
    _page(grant, appointment_type=visit_type.pk, week="2027-03-03")  # beyond: nothing
    assert asked == [(MONDAY, 7), (dt.date(2027, 3, 1), 7), (NEXT_MONDAY, 3)]


def test_the_page_runs_a_fixed_number_of_queries_whatever_the_providers_and_visits(
    grant, provider, visit_type, booking_rules, frozen, django_assert_num_queries
):
    client = portal_client(grant.user, grant.patient)
    query = {"appointment_type": visit_type.pk}
    client.get(BOOK, query)  # warm per-process caches (tenant look-up)
    one = _query_count(client, query)
    for i in range(4):
        other = ProviderFactory(
            clinic=grant.clinic,
            name=f"Dr Extra {i}",
            appointment_types=[visit_type],
            weekly_hours=(dt.time(9), dt.time(17)),
        )
        AvailabilityExceptionFactory(provider=other, date=MONDAY + dt.timedelta(days=2))
        for day in range(5):
            AppointmentFactory(
                patient=grant.patient,
                provider=other,
                appointment_type=visit_type,
                start=local(MONDAY + dt.timedelta(days=day), 10),
            )
    with django_assert_num_queries(one):
        response = client.get(BOOK, query)
    assert len({p for p, _s in _slots(response)}) > 1
    assert one <= 14
