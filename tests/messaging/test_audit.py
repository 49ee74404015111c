"""Every read and write of a message is in the audit log, for the patient concerned, and
no event carries the message's text or subject."""

import pytest

from messaging import services
from messaging.models import Attachment, Message, Thread
from portal.audit.models import AuditEvent
from tests.clients import client_for
from tests.messaging.threads import start_thread
from tests.uploads import checked

pytestmark = pytest.mark.django_db

SECRET = "condition xk9"


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_starting_a_thread_records_the_thread_and_its_first_message(fiona, chart):
    client = client_for(fiona, committing=True)
    client.post(
        "/admin/messaging/thread/add/",
        {"patient": chart.pk, "category": "general", "subject": SECRET, "body": SECRET},
    )
    thread = Thread.objects.get()
    [started] = events("message.thread_started")
    assert started.actor == fiona and started.acting_for == chart
    assert started.object_type == "messaging.thread" and started.object_id == str(thread.pk)
    assert started.ip == "127.0.0.1"
    [sent] = events("message.sent")
    assert sent.object_type == "messaging.message"
    assert sent.object_id == str(thread.messages.get().pk)
    assert sent.details == {"thread": thread.pk, "side": "staff", "attachments": 0}


def written_by_people(action):
    return [e for e in events(action) if not e.details.get("automatic")]


def test_the_patients_read_and_reply_are_recorded_for_them(maria, chart, thread, frozen):
    client = client_for(maria, committing=True)
    client.get(f"/portal/messages/{thread.pk}/")
    [read] = events("message.read")
    assert read.actor == maria and read.acting_for == chart
    assert read.object_id == str(thread.pk)
    assert read.details == {"side": "patient", "newly_read": 1}
    client.post(f"/portal/messages/{thread.pk}/", {"body": SECRET})
    reply = Message.objects.filter(thread=thread, automatic=False).last()
    sent = written_by_people("message.sent")[-1]
    assert sent.actor == maria and sent.acting_for == chart
    assert sent.object_id == str(reply.pk) and sent.details["side"] == "patient"


def test_a_patient_viewing_a_read_conversation_again_is_recorded_once_every_15_minutes(
    maria, chart, thread, frozen
):
    client = client_for(maria, committing=True)
    url = f"/portal/messages/{thread.pk}/"
    client.get(url)
    assert [e.details["newly_read"] for e in events("message.read")] == [1]
    frozen.shift(60)
    client.get(url)
    frozen.shift(13 * 60)
    client.get(url)
    assert len(events("message.read")) == 1
    frozen.shift(2 * 60)
    client.get(url)
    [_first, again] = events("message.read")
    assert again.actor == maria and again.acting_for == chart
    assert again.object_id == str(thread.pk)
    assert again.details == {"side": "patient", "newly_read": 0}


def test_a_new_message_is_recorded_as_read_at_once_even_within_the_15_minutes(
    maria, fiona, chart, thread, frozen
):
    client = client_for(maria, committing=True)
    url = f"/portal/messages/{thread.pk}/"
    client.get(url)
    client.get(url)
    staff_writes = services.message_post(thread=thread, body="And one more thing.", author=fiona)
    frozen.shift(60)
    client.get(url)
    reads = events("message.read")
    assert [e.details["newly_read"] for e in reads] == [1, 1]
    assert staff_writes.pk


def test_a_representatives_read_and_write_are_recorded_for_the_patient(paul, chart, thread):
    client = client_for(paul, chart, committing=True)
    client.get(f"/portal/messages/{thread.pk}/")
    client.post(f"/portal/messages/{thread.pk}/", {"body": "On her behalf."})
    assert events("message.read")[-1].actor == paul
    assert events("message.read")[-1].acting_for == chart
    event = written_by_people("message.sent")[-1]
    assert event.actor == paul and event.acting_for == chart


def test_staff_reads_replies_and_handling_are_recorded(fiona, maria, chart, thread):
    client = client_for(fiona, committing=True)
    client.get(f"/admin/messaging/thread/{thread.pk}/change/")
    assert events("message.read")[-1].details["side"] == "staff"
    client.post(f"/admin/messaging/thread/{thread.pk}/change/", {"body": "More news."})
    assert events("message.sent")[-1].actor == fiona
    client.post(f"/admin/messaging/thread/{thread.pk}/handled/")
    [handled] = events("message.thread_handled")
    assert handled.actor == fiona and handled.acting_for == chart
    client.post(f"/admin/messaging/thread/{thread.pk}/handled/")
    assert len(events("message.thread_handled")) == 1


def test_attachment_downloads_are_recorded_on_both_sides(fiona, maria, chart):
    thread = start_thread(fiona, chart, attachments=[checked("scan.pdf")])
    attachment = Attachment.objects.get(message__thread=thread)
    assert events("message.sent")[-1].details["attachments"] == 1
    client_for(maria, committing=True).get(f"/portal/messages/attachments/{attachment.pk}/")
    client_for(fiona, committing=True).get(f"/admin/messaging/thread/attachments/{attachment.pk}/")
    downloads = events("message.attachment_downloaded")
    assert [(e.actor, e.acting_for) for e in downloads] == [(maria, chart), (fiona, chart)]
    assert downloads[0].object_id == str(attachment.pk)


def test_refused_reads_leave_no_read_event(bob_chart, rita, chart, thread):
    client_for(bob_chart.access_grants.get().user, committing=True).get(
        f"/portal/messages/{thread.pk}/"
    )
    client_for(rita, chart, committing=True).get(f"/portal/messages/{thread.pk}/")
    assert events("message.read") == []


def test_no_event_carries_the_message_text_or_subject(fiona, maria, chart):
    thread = start_thread(fiona, chart, subject=SECRET, body=SECRET)
    client = client_for(maria, committing=True)
    client.get(f"/portal/messages/{thread.pk}/")
    client.post(f"/portal/messages/{thread.pk}/", {"body": SECRET})
    messaging_events = AuditEvent.objects.filter(action__startswith="message.")
    # Started, sent, read, the reply and the clinic's automatic acknowledgement of it.
    assert messaging_events.count() == 5
    for event in messaging_events:
        assert SECRET not in str(event.details)
