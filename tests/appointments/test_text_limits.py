"""A patient's appointment text messages stop for the day at the clinic's limit; emails
still go, and the ones not sent are recorded with the reason for staff to see."""

import datetime as dt

import pytest
from django.core import mail

from appointments import services
from patients.models import Patient
from portal.notifications.models import Notification
from tests.appointments.schedule import NOW, local
from tests.clients import staff_client
from tests.factories import PatientAccessFactory, UserFactory, portal_settings_of

pytestmark = pytest.mark.django_db

TUESDAY = NOW.date() + dt.timedelta(days=1)
WEDNESDAY = TUESDAY + dt.timedelta(days=1)


@pytest.fixture
def texted(grant, booking_rules):
    """Ada takes appointment notices by text; her carer Cal gets them by email."""
    Patient.objects.filter(pk=grant.patient_id).update(
        mobile="+16135550123", notify_appointments_by="sms"
    )
    grant.patient.refresh_from_db()
    carer = UserFactory(clinic=grant.clinic, email="cal@example.com", phone="")
    PatientAccessFactory(user=carer, patient=grant.patient, relationship="carer")
    portal_settings_of(
        grant.clinic, sms_notices_per_patient_per_day=3, max_upcoming_appointments=10
    )
    return grant.patient


def _book_and_cancel(grant, provider, visit_type, start, capture):
    with capture(execute=True):
        appointment = services.appointment_book(
            patient=grant.patient,
            provider=provider,
            appointment_type=visit_type,
            start=start,
            booked_by=grant.user,
        )
    with capture(execute=True):
        services.appointment_cancel(appointment=appointment, cancelled_by=None, by_staff=True)


def test_texts_stop_at_the_daily_limit_while_emails_go_on(
    grant,
    texted,
    provider,
    visit_type,
    frozen,
    sms_outbox,
    clinic_admin,
    django_capture_on_commit_callbacks,
):
    _book_and_cancel(
        grant, provider, visit_type, local(TUESDAY, 9), django_capture_on_commit_callbacks
    )
    _book_and_cancel(
        grant, provider, visit_type, local(TUESDAY, 9, 15), django_capture_on_commit_callbacks
    )
    assert len(sms_outbox) == 3
    assert {m.to for m in sms_outbox} == {"+16135550123"}
    assert len(mail.outbox) == 4
    assert [m.to for m in mail.outbox] == [["cal@example.com"]] * 4
    held = Notification.objects.get(status=Notification.Status.OVER_LIMIT)
    assert (held.channel, held.template) == ("sms", "appointment_cancelled")
    assert held.last_error == "not sent: the daily limit of 3 was reached"
    listing = staff_client(clinic_admin).get(
        "/admin/notifications/notification/", {"status": "over_limit"}
    )
    assert list(listing.context["cl"].result_list) == [held]
    assert "Not sent: daily limit" in listing.content.decode()

    # Still the clinic's Monday at 23:59 (Tuesday in UTC): no more texts.
    frozen.move_to(local(NOW.date(), 23, 59))
    _book_and_cancel(
        grant, provider, visit_type, local(WEDNESDAY, 9), django_capture_on_commit_callbacks
    )
    assert len(sms_outbox) == 3
    assert len(mail.outbox) == 6
    # The clinic's Tuesday: texts again.
    frozen.move_to(local(TUESDAY, 0, 1))
    _book_and_cancel(
        grant, provider, visit_type, local(WEDNESDAY, 9, 15), django_capture_on_commit_callbacks
    )
    assert len(sms_outbox) == 5
    assert Notification.objects.filter(status=Notification.Status.OVER_LIMIT).count() == 3


def test_a_held_text_is_never_sent_by_the_relay(
    grant, texted, provider, visit_type, frozen, sms_outbox, django_capture_on_commit_callbacks
):
    from portal.notifications.tasks import notifications_relay

    portal_settings_of(grant.clinic, sms_notices_per_patient_per_day=1)
    _book_and_cancel(
        grant, provider, visit_type, local(TUESDAY, 9), django_capture_on_commit_callbacks
    )
    assert len(sms_outbox) == 1
    frozen.shift(dt.timedelta(hours=1))
    assert notifications_relay() == 0
    assert len(sms_outbox) == 1
