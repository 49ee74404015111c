"""The appointments page's lists come from the shared cache, and never show a visit as it
was before a write or before time moved it from Upcoming to Past."""

import datetime as dt

import pytest

from appointments import services
from appointments.models import Appointment
from tests.appointments.schedule import NOW, local
from tests.clients import portal_client
from tests.factories import PatientAccessFactory, PatientFactory
from tests.i18n.french import choose

pytestmark = pytest.mark.django_db

TUESDAY = NOW.date() + dt.timedelta(days=1)
PAGE = "/portal/appointments/"


def _sections(client):
    content = client.get(PAGE).content.decode()
    upcoming, rest = content.split("<h2>Past</h2>")
    past, cancelled = rest.split('<h2 id="cancelled">Cancelled</h2>')
    return upcoming, past, cancelled


def test_a_booking_shows_at_once(grant, provider, visit_type, booking_rules, frozen):
    client = portal_client(grant.user, grant.patient)
    assert "You have no upcoming appointments." in _sections(client)[0]
    services.appointment_book(
        patient=grant.patient,
        provider=provider,
        appointment_type=visit_type,
        start=local(TUESDAY, 9),
        booked_by=grant.user,
    )
    assert "Tuesday 24 November 2026" in _sections(client)[0]


def test_a_cancellation_and_a_bulk_update_show_at_once(grant, visit_at, front_desk, frozen):
    kept, dropped = visit_at(local(TUESDAY, 9)), visit_at(local(TUESDAY, 10))
    client = portal_client(grant.user, grant.patient)
    assert _sections(client)[0].count('class="card"') == 2
    services.appointment_cancel(appointment=dropped, cancelled_by=front_desk, by_staff=True)
    upcoming, _past, cancelled = _sections(client)
    assert upcoming.count('class="card"') == 1 and cancelled.count('class="card"') == 1
    Appointment.objects.filter(pk=kept.pk).update(status=Appointment.Status.NO_SHOW)
    upcoming, past, _cancelled = _sections(client)
    assert "You have no upcoming appointments." in upcoming and "No-show" in past


def test_a_renamed_provider_shows_at_once(grant, provider, visit_at, frozen):
    visit_at(local(TUESDAY, 9))
    client = portal_client(grant.user, grant.patient)
    assert "Dr Osei" in _sections(client)[0]
    provider.name = "Dr Osei-Mensah"
    provider.save()
    assert "Dr Osei-Mensah" in _sections(client)[0]


def test_a_visit_moves_to_past_when_it_ends(grant, visit_at, frozen):
    visit_at(local(TUESDAY, 9))
    client = portal_client(grant.user, grant.patient)
    assert _sections(client)[0].count('class="card"') == 1
    frozen.move_to(local(TUESDAY, 9, 20))  # the 15-minute visit is over, nothing written
    upcoming, past, _cancelled = _sections(portal_client(grant.user, grant.patient))
    assert "You have no upcoming appointments." in upcoming
    assert past.count('class="card"') == 1


def test_each_chart_has_its_own_lists(grant, visit_at, frozen):
    visit_at(local(TUESDAY, 9))
    other = PatientAccessFactory(patient=PatientFactory(clinic=grant.clinic, first_name="Bo"))
    assert _sections(portal_client(grant.user, grant.patient))[0].count('class="card"') == 1
    theirs = _sections(portal_client(other.user, other.patient))[0]
    assert "You have no upcoming appointments." in theirs


def test_the_lists_follow_the_readers_language(grant, visit_at, frozen):
    visit_at(local(TUESDAY, 9))
    client = portal_client(grant.user, grant.patient)
    assert "Tuesday 24 November 2026" in client.get(PAGE).content.decode()
    choose(client, "fr", PAGE)
    french = client.get(PAGE).content.decode()
    assert "mardi 24 novembre 2026" in french
