"""Who is told of a new message, how, and that no notice ever carries the message."""

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from messaging import services
from messaging.models import Message
from portal.notifications.models import Notification
from portal.notifications.rendering import render_notification
from tests.clients import client_for, committed
from tests.factories import PatientFactory, portal_settings_of
from tests.messaging.threads import start_thread
from tests.portal.outbox import send_now

pytestmark = pytest.mark.django_db

NOTICE = "You have a new message from Demo Family Clinic. Sign in to read it."
SECRET_SUBJECT = "Biopsy result zq7"
SECRET_BODY = "The biopsy shows condition xk9"


def patient_writes(user, thread, body="A question from me."):
    access = user.patient_access.get(patient=thread.patient)
    return committed(services.message_post, thread=thread, body=body, author=user, access=access)


def test_the_patient_is_told_by_email_when_the_clinic_writes(fiona, maria, chart):
    start_thread(fiona, chart)
    [email] = mail.outbox
    assert email.to == ["maria@example.com"]
    assert email.subject == "New message from Demo Family Clinic"
    assert NOTICE in email.body
    assert "http://demo.localhost:8000/portal/messages/" in email.body
    assert NOTICE in email.alternatives[0][0]


def test_a_patient_without_an_email_is_told_by_text_message(fiona, clinic, sms_outbox):
    patient = PatientFactory(clinic=clinic, email="", mobile="+16135550144")
    start_thread(fiona, patient)
    assert mail.outbox == []
    [text] = sms_outbox
    assert text.to == "+16135550144"
    assert text.body.startswith(NOTICE)


@pytest.mark.parametrize(
    ("choice", "emails", "texts"),
    [("sms", [], ["+16135550123"]), ("email", ["maria@example.com"], []), ("none", [], [])],
)
def test_the_patients_own_choice_for_message_notices_is_followed(
    choice, emails, texts, fiona, chart, sms_outbox
):
    chart.notify_messages_by = choice
    chart.save(update_fields=["notify_messages_by"])
    start_thread(fiona, chart)
    assert [m.to[0] for m in mail.outbox] == emails
    assert [t.to for t in sms_outbox] == texts


def test_when_the_clinic_sends_no_email_the_notice_goes_by_text(fiona, chart, clinic, sms_outbox):
    portal_settings_of(clinic, email_enabled=False)
    start_thread(fiona, chart)
    assert mail.outbox == []
    assert [t.to for t in sms_outbox] == ["+16135550123"]


def test_nobody_is_told_when_no_channel_reaches_the_patient(fiona, chart, clinic, sms_outbox):
    portal_settings_of(clinic, email_enabled=False, sms_enabled=False)
    start_thread(fiona, chart)
    assert mail.outbox == [] and sms_outbox == []
    assert not Notification.objects.exists()


def test_representatives_with_the_messages_scope_are_told_and_the_others_are_not(
    fiona, maria, paul, rita, chart
):
    start_thread(fiona, chart)
    assert sorted(m.to[0] for m in mail.outbox) == ["maria@example.com", "paul@example.com"]


def test_a_representative_whose_grant_ended_is_not_told(fiona, paul, chart):
    grant = paul.patient_access.get()
    grant.expires_at = timezone.now()
    grant.save(update_fields=["expires_at"])
    start_thread(fiona, chart)
    assert [m.to for m in mail.outbox] == [["maria@example.com"]]


def test_nobody_is_told_when_the_clinic_revoked_portal_access(fiona, maria, paul, chart):
    chart.portal_revoked_at = timezone.now()
    chart.save(update_fields=["portal_revoked_at"])
    start_thread(fiona, chart)
    assert mail.outbox == []


def test_staff_are_told_of_patient_messages_at_the_clinics_notification_email(
    fiona, maria, chart, clinic
):
    clinic.notification_email = "frontdesk@demo.example.com"
    clinic.save(update_fields=["notification_email"])
    thread = start_thread(fiona, chart)
    mail.outbox.clear()
    patient_writes(maria, thread)
    [email] = mail.outbox
    assert email.to == ["frontdesk@demo.example.com"]
    assert email.subject == "New patient message in the portal"
    assert "Sign in to the clinic admin to read it." in email.body
    assert f"http://demo.localhost:8000/admin/messaging/thread/{thread.pk}/change/" in email.body


def test_a_patient_started_thread_tells_the_staff_too(maria, chart, clinic):
    clinic.notification_email = "frontdesk@demo.example.com"
    clinic.save(update_fields=["notification_email"])
    client_for(maria, committing=True).post(
        "/portal/messages/new/", {"category": "billing_question", "subject": "Bill", "body": "?"}
    )
    assert [m.to for m in mail.outbox] == [["frontdesk@demo.example.com"]]


def test_no_staff_notice_without_a_notification_email(fiona, maria, chart, clinic):
    thread = start_thread(fiona, chart)
    mail.outbox.clear()
    patient_writes(maria, thread)
    assert mail.outbox == []


def test_no_notice_carries_the_message_text_the_subject_or_the_patients_name(
    fiona, maria, paul, chart, clinic, sms_outbox
):
    clinic.notification_email = "frontdesk@demo.example.com"
    clinic.save(update_fields=["notification_email"])
    chart.mobile = "+16135550123"
    chart.save(update_fields=["mobile"])
    thread = start_thread(fiona, chart, subject=SECRET_SUBJECT, body=SECRET_BODY)
    patient_writes(maria, thread, body=SECRET_BODY + " (patient)")
    patient_writes(paul, thread, body=SECRET_BODY + " (spouse)")
    portal_settings_of(clinic, email_enabled=False)
    committed(services.message_post, thread=thread, body=SECRET_BODY, author=fiona)
    notifications = list(Notification.objects.all())
    assert {n.template for n in notifications} == {"message_new", "message_staff_notice"}
    assert {n.channel for n in notifications} == {"email", "sms"}
    forbidden = [SECRET_SUBJECT, SECRET_BODY, "biopsy", "Maria", "Silva", "Paul"]
    for notification in notifications:
        assert set(notification.context) == {"thread_id", "message_id"}
        rendered = render_notification(notification)
        for part in (rendered.subject, rendered.text, rendered.html or ""):
            for word in forbidden:
                assert word.lower() not in part.lower(), (notification.template, part)
    sent = [m.subject + m.body + m.alternatives[0][0] for m in mail.outbox]
    sent += [t.body for t in sms_outbox]
    assert len(sent) == len(notifications)
    for body in sent:
        for word in forbidden:
            assert word.lower() not in body.lower()


def _thread_with_its_notice_unsent(fiona, chart):
    """Fiona writes to Maria; the notice stays in the outbox (the send queued for the
    commit is dropped)."""
    with TestCase.captureOnCommitCallbacks(execute=False):
        return services.thread_start(
            clinic=chart.clinic,
            patient=chart,
            subject="Hello",
            category="general",
            body="Hi",
            author=fiona,
        )


def test_a_notice_for_a_message_read_before_it_went_out_is_cancelled(fiona, maria, chart):
    thread = _thread_with_its_notice_unsent(fiona, chart)
    services.thread_mark_read(thread=thread, reader=maria)
    notification = Notification.objects.get()
    send_now(notification)
    assert notification.status == Notification.Status.CANCELLED
    assert mail.outbox == []


def test_a_notice_for_a_deleted_message_is_cancelled(fiona, chart):
    thread = _thread_with_its_notice_unsent(fiona, chart)
    Message.objects.filter(thread=thread).delete()
    notification = Notification.objects.get()
    send_now(notification)
    assert notification.status == Notification.Status.CANCELLED
