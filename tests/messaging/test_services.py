"""The services refuse what the pages never offer, keep the thread's state right and
leave nothing behind when a write fails."""

from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from messaging import services
from messaging.models import Attachment, Message, Side, Thread
from portal.notifications.models import Notification
from tests.factories import portal_settings_of
from tests.uploads import PDF_BYTES, checked

pytestmark = pytest.mark.django_db


def start(author, patient, **kwargs):
    return services.thread_start(
        clinic=patient.clinic,
        patient=patient,
        subject=kwargs.pop("subject", "Hello"),
        category="general",
        body=kwargs.pop("body", "Hi"),
        author=author,
        **kwargs,
    )


def grant(user, patient=None):
    grants = user.patient_access.all()
    return grants.get(patient=patient) if patient else grants.get()


def test_staff_of_another_clinic_cannot_write_to_a_patient(outsider_staff, chart, thread):
    with pytest.raises(services.MessagingRefused):
        start(outsider_staff, chart)
    with pytest.raises(services.MessagingRefused):
        services.message_post(thread=thread, body="Hi", author=outsider_staff)
    with pytest.raises(services.MessagingRefused):
        services.thread_mark_handled(thread=thread, handled_by=outsider_staff)


def test_a_thread_cannot_name_another_clinics_patient(fiona, charlie_chart, clinic):
    with pytest.raises(services.MessagingRefused):
        services.thread_start(
            clinic=clinic,
            patient=charlie_chart,
            subject="x",
            category="general",
            body="x",
            author=fiona,
        )
    assert not Thread.objects.exists()


def test_a_portal_account_needs_a_grant_to_this_patients_messages(
    maria, rita, bob_chart, chart, thread
):
    with pytest.raises(services.MessagingRefused):
        services.message_post(thread=thread, body="Hi", author=maria)
    with pytest.raises(services.MessagingRefused):
        services.message_post(thread=thread, body="Hi", author=rita, access=grant(rita))
    bob = bob_chart.access_grants.get().user
    with pytest.raises(services.MessagingRefused):
        services.message_post(thread=thread, body="Hi", author=maria, access=grant(bob))
    with pytest.raises(services.MessagingRefused):
        start(rita, chart, access=grant(rita))
    assert Message.objects.filter(thread=thread).count() == 1


def test_the_clinics_settings_bind_the_services_too(maria, chart, thread, clinic):
    portal_settings_of(clinic, message_replies_allowed=False, patient_messages_allowed=False)
    with pytest.raises(services.MessagingRefused):
        services.message_post(thread=thread, body="Hi", author=maria, access=grant(maria))
    with pytest.raises(services.MessagingRefused):
        start(maria, chart, access=grant(maria))
    assert Thread.objects.count() == 1


def test_the_thread_tracks_who_wrote_last_and_what_is_unread(fiona, maria, chart):
    thread = start(fiona, chart)
    assert thread.last_sender_side == Side.STAFF and not thread.awaiting_reply
    first = thread.messages.get()
    assert first.read_by_staff_at is not None and first.read_by_patient_at is None
    answer = services.message_post(thread=thread, body="Thanks", author=maria, access=grant(maria))
    thread.refresh_from_db()
    assert thread.last_sender_side == Side.PATIENT and thread.awaiting_reply
    assert thread.last_message_at == answer.created_at
    assert answer.read_by_patient_at is not None and answer.read_by_staff_at is None
    assert services.thread_mark_read(thread=thread, reader=fiona) == 1
    assert services.thread_mark_read(thread=thread, reader=fiona) == 0
    assert services.thread_mark_read(thread=thread, reader=maria) == 1


def test_marking_handled_is_idempotent(fiona, thread):
    assert services.thread_mark_handled(thread=thread, handled_by=fiona) is True
    assert services.thread_mark_handled(thread=thread, handled_by=fiona) is False


def test_attachments_must_have_passed_the_content_check(fiona, chart):
    raw = SimpleUploadedFile("x.pdf", PDF_BYTES)
    with pytest.raises(TypeError):
        start(fiona, chart, attachments=[raw])


def test_a_failed_write_removes_the_files_it_stored_and_writes_no_rows(fiona, chart):
    with (
        mock.patch.object(services, "audit_record", side_effect=RuntimeError("db gone")),
        pytest.raises(RuntimeError),
    ):
        start(fiona, chart, attachments=[checked("scan.pdf")])
    assert not Thread.objects.exists() and not Attachment.objects.exists()
    assert not Notification.objects.exists()
    root = Path(settings.PORTAL_ATTACHMENTS_ROOT)
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_the_author_name_is_kept_as_written(fiona, chart):
    thread = start(fiona, chart)
    fiona.first_name = "Renamed"
    fiona.save(update_fields=["first_name"])
    assert thread.messages.get().author_name == "Fiona Desk"
