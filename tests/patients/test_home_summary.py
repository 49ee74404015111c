"""The home page's figures come from a per-chart cache and are never stale after a write.

Each test fills the cache with one visit, writes through the path staff or patients use
(services, the admin's save, a bulk update), and expects the next visit to show it.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from appointments import services as appointment_services
from appointments.models import AppointmentType, Provider
from messaging import services as messaging_services
from messaging.models import Thread
from patients import demographics
from patients.models import ChangeRequest
from portal.core.cache import read_through
from portal.site import home
from portal.site.home import home_summary
from tests.clients import portal_client
from tests.clock import NOW
from tests.factories import AppointmentFactory, PatientAccessFactory, PatientFactory, StaffFactory

# The frozen fixture stops the clock at NOW: Tuesday 15 January 2030, 9:00 in the clinic.

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(clinic):
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Ada"))
    return grant.user, grant.patient


@pytest.fixture
def staff(clinic):
    return StaffFactory(clinic=clinic, username="desk")


def _home(client):
    response = client.get("/portal/")
    assert response.status_code == 200
    return response.content.decode()


def _visit(patient, start, minutes=15):
    """A visit with Dr Osei (every visit of a clinic shares its one doctor and type)."""
    kind = AppointmentType.objects.get_or_create(
        clinic=patient.clinic, name="Visit", defaults={"duration_minutes": minutes}
    )[0]
    provider = Provider.objects.get_or_create(clinic=patient.clinic, name="Dr Osei")[0]
    return AppointmentFactory(
        patient=patient,
        provider=provider,
        appointment_type=kind,
        start=start,
        end=start + dt.timedelta(minutes=minutes),
    )


def test_a_second_visit_reads_none_of_the_three_tables(ada, frozen):
    user, patient = ada
    client = portal_client(user, patient)
    _home(client)
    with CaptureQueriesContext(connection) as ctx:
        _home(client)
    tables = ("messaging_message", "appointments_appointment", "patients_changerequest")
    assert not [q["sql"] for q in ctx.captured_queries if any(t in q["sql"] for t in tables)]


def test_messages_sent_and_read_show_at_once(ada, staff, frozen):
    user, patient = ada
    client = portal_client(user, patient)
    assert "You have no unread messages." in _home(client)
    thread = messaging_services.thread_start(
        clinic=patient.clinic,
        patient=patient,
        subject="Results",
        category="general",
        body="Your results are in.",
        author=staff,
    )
    messaging_services.message_post(thread=thread, body="And a second note.", author=staff)
    assert "You have 2 unread messages." in _home(client)
    # Read with a bulk update, which sends no signal.
    messaging_services.thread_mark_read(thread=thread, reader=user)
    assert "You have no unread messages." in _home(client)
    messaging_services.message_post(thread=thread, body="One more.", author=staff)
    assert "You have 1 unread message." in _home(client)
    Thread.objects.filter(pk=thread.pk).delete()  # staff delete the thread in the admin
    assert "You have no unread messages." in _home(client)


def test_visits_booked_cancelled_marked_and_over_show_at_once(ada, staff, frozen):
    user, patient = ada
    client = portal_client(user, patient)
    assert "You have no upcoming appointments." in _home(client)
    soon = _visit(patient, NOW + dt.timedelta(hours=1))
    later = _visit(patient, NOW + dt.timedelta(days=2))
    first = _home(client)
    assert "Next: Tuesday 15 January" in first, first
    appointment_services.appointment_cancel(appointment=soon, cancelled_by=staff, by_staff=True)
    assert "Next: Thursday 17 January" in _home(client)
    # Marked as seen early with a bulk update (the admin action).
    appointment_services.appointment_mark(appointment=later, status="completed", marked_by=staff)
    assert "You have no upcoming appointments." in _home(client)
    _visit(patient, NOW + dt.timedelta(hours=2))
    _visit(patient, NOW + dt.timedelta(days=3))
    assert "Next: Tuesday 15 January" in _home(client)
    frozen.move_to(NOW + dt.timedelta(hours=3))  # the visit is over; nothing was written
    assert "Next: Friday 18 January" in _home(portal_client(user, patient))


def test_requests_made_and_decided_show_at_once(ada, staff, rf, frozen):
    user, patient = ada
    client = portal_client(user, patient)
    assert "You have no pending requests." in _home(client)
    request = rf.post("/")
    request.clinic = patient.clinic
    change = demographics.change_request_create(
        request=request, patient=patient, requested_by=user, proposed={"city": "Kingston"}
    )
    assert "1 request waiting for the clinic." in _home(client)
    demographics.change_request_decide(
        request=request, change_request=change, decided_by=staff, accept={"city"}
    )
    assert ChangeRequest.objects.get(pk=change.pk).status != ChangeRequest.Status.PENDING
    assert "You have no pending requests." in _home(client)


def test_a_read_before_the_commit_is_not_kept(
    ada, staff, django_capture_on_commit_callbacks, frozen
):
    """A page that read the figures while a booking was being written (it saw no visit)
    stores them, but they are not used once the booking commits."""
    user, patient = ada
    key = home._key(patient.clinic_id, patient.pk)
    with django_capture_on_commit_callbacks(execute=True):
        _visit(patient, NOW + dt.timedelta(days=1))
        # Another request, reading before this transaction commits, stores what it saw.
        read_through(key, lambda: home.HomeSummary(0, 0, None, None), timeout=300)
    assert home_summary(clinic=patient.clinic, patient=patient).next_start is not None


def test_one_charts_figures_are_never_another_charts(clinic, staff, frozen):
    ada = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Ada"))
    bob = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Bob"))
    messaging_services.thread_start(
        clinic=clinic,
        patient=bob.patient,
        subject="Results",
        category="general",
        body="Bob's results.",
        author=staff,
    )
    _visit(bob.patient, NOW + dt.timedelta(days=1))
    assert "You have 1 unread message." in _home(portal_client(bob.user, bob.patient))
    ada_home = _home(portal_client(ada.user, ada.patient))
    assert "You have no unread messages." in ada_home
    assert "You have no upcoming appointments." in ada_home
