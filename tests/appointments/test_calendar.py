"""Appointment emails say who, what, where and when in the reader's language, and carry
the visit's calendar file; the portal offers the same file for each upcoming visit."""

import datetime as dt

import pytest
from django.core import mail

from appointments import services
from appointments.models import Appointment
from appointments.services import appointment_reminders_send
from clinics.models import Clinic
from patients.models import Patient
from portal.notifications.models import Notification
from tests.appointments.calendar_files import calendar_of, calendar_parts, event_of
from tests.appointments.schedule import NOW, TORONTO, local
from tests.clients import portal_client
from tests.factories import PatientAccessFactory, PatientFactory

pytestmark = pytest.mark.django_db

TUESDAY = NOW.date() + dt.timedelta(days=1)
ADDRESS = "100 Bank Street, Ottawa ON K1P 5N2"


@pytest.fixture
def with_address(clinic):
    Clinic.objects.filter(pk=clinic.pk).update(address=ADDRESS)
    clinic.refresh_from_db()
    return clinic


def _book(grant, provider, visit_type, start, capture):
    with capture(execute=True):
        return services.appointment_book(
            patient=grant.patient,
            provider=provider,
            appointment_type=visit_type,
            start=start,
            reason="sore throat",
            booked_by=grant.user,
        )


def _cancel(appointment, capture):
    with capture(execute=True):
        services.appointment_cancel(appointment=appointment, cancelled_by=None, by_staff=True)


def test_the_confirmation_names_provider_type_place_and_time_and_invites_to_the_calendar(
    grant,
    provider,
    visit_type,
    with_address,
    booking_rules,
    frozen,
    django_capture_on_commit_callbacks,
):
    appointment = _book(
        grant, provider, visit_type, local(TUESDAY, 9, 15), django_capture_on_commit_callbacks
    )
    [email] = mail.outbox
    for body in (email.body, email.alternatives[0][0]):
        assert "24 November 2026, 9:15 AM" in body  # as the pages write a time
        assert "Dr Osei" in body
        assert "Regular visit" in body
        assert ADDRESS in body
    [part] = calendar_parts(email)
    assert part.get_param("method") == "REQUEST"
    assert part.get_filename() == "appointment.ics"
    calendar = calendar_of(email)
    assert calendar["METHOD"] == "REQUEST"
    event = event_of(calendar)
    assert str(event["UID"]) == f"appointment-{appointment.pk}@demo.localhost"
    assert event["SEQUENCE"] == 0
    start = event.decoded("DTSTART")
    assert start == local(TUESDAY, 9, 15)
    assert event["DTSTART"].params["TZID"] == "America/Toronto"
    assert start.utcoffset() == dt.timedelta(hours=-5)
    assert event.decoded("DTEND") == local(TUESDAY, 9, 30)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/Toronto"]
    assert str(event["LOCATION"]) == ADDRESS
    assert str(event["ATTENDEE"]) == "mailto:ada@example.com"
    assert "sore throat" not in calendar.to_ical().decode()
    assert "Regular visit" not in calendar.to_ical().decode()
    # The row keeps the id it needs, and nothing else.
    assert Notification.objects.get().context == {"appointment_id": appointment.pk}


def test_the_cancellation_removes_the_same_event_and_the_reminder_repeats_it(
    grant, provider, visit_type, booking_rules, frozen, django_capture_on_commit_callbacks
):
    kept = _book(grant, provider, visit_type, local(TUESDAY, 9), django_capture_on_commit_callbacks)
    gone = _book(
        grant, provider, visit_type, local(TUESDAY, 10), django_capture_on_commit_callbacks
    )
    _cancel(gone, django_capture_on_commit_callbacks)
    frozen.move_to(local(NOW.date(), 18))
    with django_capture_on_commit_callbacks(execute=True):
        assert appointment_reminders_send() == 1
    booked, _other, cancelled, reminder = (calendar_of(m) for m in mail.outbox)
    assert "is cancelled" in mail.outbox[2].body
    assert calendar_parts(mail.outbox[2])[0].get_param("method") == "CANCEL"
    assert cancelled["METHOD"] == "CANCEL"
    assert event_of(cancelled)["UID"] == f"appointment-{gone.pk}@demo.localhost"
    assert event_of(cancelled)["SEQUENCE"] == 1
    assert str(event_of(cancelled)["STATUS"]) == "CANCELLED"
    assert event_of(cancelled).decoded("DTSTART") == local(TUESDAY, 10)
    assert "A reminder of your appointment" in mail.outbox[3].body
    assert reminder["METHOD"] == "REQUEST"
    assert event_of(reminder)["UID"] == event_of(booked)["UID"]
    assert event_of(reminder)["UID"] == f"appointment-{kept.pk}@demo.localhost"
    assert event_of(reminder)["SEQUENCE"] == 0


def test_a_french_reader_gets_the_french_date_and_24_hour_time(
    grant, provider, visit_type, booking_rules, frozen, django_capture_on_commit_callbacks
):
    Patient.objects.filter(pk=grant.patient_id).update(preferred_language="fr")
    grant.patient.refresh_from_db()
    _book(grant, provider, visit_type, local(TUESDAY, 9), django_capture_on_commit_callbacks)
    [email] = mail.outbox
    assert "24 novembre 2026, 9 h 00" in email.body
    assert "Dr Osei" in email.body
    assert "a.m." not in email.body
    assert str(event_of(calendar_of(email))["SUMMARY"]) == "Rendez-vous chez Demo Family Clinic"


def test_a_booking_notice_sent_after_the_cancellation_is_dropped(
    grant, provider, visit_type, booking_rules, frozen, django_capture_on_commit_callbacks
):
    appointment = services.appointment_book(  # its notice is not sent before the cancel
        patient=grant.patient,
        provider=provider,
        appointment_type=visit_type,
        start=local(TUESDAY, 9),
        booked_by=grant.user,
    )
    _cancel(appointment, django_capture_on_commit_callbacks)
    from portal.notifications.delivery import notification_send

    booked = Notification.objects.get(template="appointment_booked")
    assert notification_send(notification_id=booked.pk, clinic_id=booked.clinic_id).status == (
        Notification.Status.CANCELLED
    )
    assert [calendar_of(m)["METHOD"] for m in mail.outbox] == ["CANCEL"]


# --- "Add to calendar" --------------------------------------------------------------------


def test_each_upcoming_visit_offers_its_calendar_file_without_caching(
    grant, visit_at, booking_rules, frozen
):
    visit = visit_at(local(TUESDAY, 9), reason="sore throat")
    client = portal_client(grant.user, grant.patient)
    listing = client.get("/portal/appointments/").content.decode()
    url = f"/portal/appointments/{visit.pk}/calendar.ics"
    assert f'href="{url}"' in listing
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar"
    assert response["Content-Disposition"] == 'attachment; filename="appointment.ics"'
    assert "no-store" in response["Cache-Control"]
    import icalendar

    event = event_of(icalendar.Calendar.from_ical(response.content))
    assert str(event["UID"]) == f"appointment-{visit.pk}@demo.localhost"
    assert event.decoded("DTSTART").astimezone(TORONTO) == local(TUESDAY, 9)
    assert b"sore throat" not in response.content


def test_no_calendar_file_for_someone_elses_or_a_cancelled_or_past_visit(
    grant, visit_at, booking_rules, frozen, other_clinic
):
    other = PatientAccessFactory(patient=PatientFactory(clinic=grant.clinic))
    theirs = visit_at(local(TUESDAY, 9), patient=other.patient)
    cancelled = visit_at(local(TUESDAY, 10), status=Appointment.Status.CANCELLED)
    past = visit_at(local(NOW.date() - dt.timedelta(days=3), 9))
    client = portal_client(grant.user, grant.patient)
    for visit in (theirs, cancelled, past):
        assert client.get(f"/portal/appointments/{visit.pk}/calendar.ics").status_code == 404
    mine = visit_at(local(TUESDAY, 11))
    outsider = PatientAccessFactory(patient=PatientFactory(clinic=other_clinic))
    response = portal_client(outsider.user, outsider.patient).get(
        f"/portal/appointments/{mine.pk}/calendar.ics"
    )
    assert response.status_code == 404
