"""The patient's side of messages: inbox, thread, reply, new message, and who sees what."""

from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages

from messaging.models import Message, Side, Thread
from tests.clients import client_for, host_client
from tests.factories import MessageFactory, portal_settings_of
from tests.messaging.threads import start_thread

pytestmark = pytest.mark.django_db

INBOX = "/portal/messages/"
NEW = "/portal/messages/new/"
EMERGENCY = "For urgent matters call the clinic or emergency services."


def thread_url(thread):
    return f"/portal/messages/{thread.pk}/"


def flash(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def reply(client, thread, body="Thank you, I will call.", **extra):
    return client.post(thread_url(thread), {"body": body, **extra})


# --- Inbox, unread counts, thread ------------------------------------------------------


def test_it_lists_the_patients_threads_with_their_unread_counts(maria, chart, fiona):
    start_thread(fiona, chart, subject="Flu shot")
    older = start_thread(fiona, chart, subject="Lab results")
    MessageFactory(
        thread=older, sender_side=Side.STAFF, author_name="Fiona Desk", body="One more thing."
    )
    content = client_for(maria, committing=True).get(INBOX).content.decode()
    assert "Flu shot" in content and "Lab results" in content
    assert "You have 3 unread messages." in content
    assert "2 new" in content and "1 new" in content


def test_it_shows_the_unread_count_and_a_link_on_the_portal_home(maria, thread):
    content = client_for(maria, committing=True).get("/portal/").content.decode()
    assert "You have 1 unread message." in content
    assert f'href="{INBOX}"' in content


def test_opening_a_thread_shows_it_and_marks_it_read(maria, thread):
    client = client_for(maria, committing=True)
    response = client.get(thread_url(thread))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Your test results" in content and "Please call us." in content
    assert "Fiona Desk, Demo Family Clinic" in content
    assert Message.objects.get(thread=thread).read_by_patient_at is not None
    assert "You have no unread messages." in client.get("/portal/").content.decode()
    assert "You have no unread messages." in client.get(INBOX).content.decode()


def test_it_shows_message_text_escaped_with_its_line_breaks(maria, chart, fiona):
    thread = start_thread(
        fiona,
        chart,
        subject="<b>Bold</b> subject",
        body="<script>alert('x')</script>\nsecond line & more",
    )
    client = client_for(maria, committing=True)
    for content in (client.get(thread_url(thread)).content, client.get(INBOX).content):
        text = content.decode()
        assert "<script>alert(" not in text
        assert "<b>Bold</b>" not in text
        assert "&lt;b&gt;Bold&lt;/b&gt; subject" in text
    text = client.get(thread_url(thread)).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br>second line &amp; more" in text


def test_the_inbox_pages_through_many_threads(maria, chart, fiona):
    for n in range(25):
        start_thread(fiona, chart, subject=f"Subject {n:02d}")
    client = client_for(maria, committing=True)
    first = client.get(INBOX).content.decode()
    assert "Subject 24" in first and "Subject 04" not in first
    assert "Page 1 of 2" in first
    second = client.get(INBOX, {"page": 2}).content.decode()
    assert "Subject 04" in second and "Subject 24" not in second


# --- Other people's threads --------------------------------------------------------------


def test_another_patients_thread_is_a_404_by_id(maria, bob_chart, fiona):
    bobs = start_thread(fiona, bob_chart, subject="Bob's results")
    client = client_for(maria, committing=True)
    assert client.get(thread_url(bobs)).status_code == 404
    assert reply(client, bobs).status_code == 404
    assert not Message.objects.filter(thread=bobs, sender_side=Side.PATIENT).exists()
    assert Message.objects.get(thread=bobs).read_by_patient_at is None


def test_another_patients_threads_are_not_in_the_lists(maria, bob_chart, fiona):
    start_thread(fiona, bob_chart, subject="Bob's results")
    client = client_for(maria, committing=True)
    assert "Bob&#x27;s results" not in client.get(INBOX).content.decode()
    assert "You have no unread messages." in client.get("/portal/").content.decode()


def test_the_outsider_from_another_clinic_gets_a_404_on_their_own_host(
    charlie, charlie_chart, thread
):
    client = client_for(charlie, committing=True)
    assert client.get(thread_url(thread)).status_code == 404
    assert reply(client, thread).status_code == 404
    assert "Your test results" not in client.get(INBOX).content.decode()


def test_a_session_carried_to_another_clinics_host_reaches_no_thread(maria, thread, other_clinic):
    client = client_for(maria, committing=True)
    client.defaults["HTTP_HOST"] = "northside.localhost"
    response = client.get(thread_url(thread))
    assert response.status_code == 302
    assert response["Location"] == f"/portal/?next={quote(thread_url(thread), safe='')}"


def test_a_signed_out_visitor_is_sent_to_sign_in(thread):
    response = host_client("demo").get(thread_url(thread))
    assert response.status_code == 302
    assert response["Location"] == f"/portal/?next={quote(thread_url(thread), safe='')}"


# --- Replying ----------------------------------------------------------------------------


def test_the_patient_replies(maria, thread):
    client = client_for(maria, committing=True)
    page = client.get(thread_url(thread)).content.decode()
    assert 'name="body"' in page and "Your reply" in page and EMERGENCY in page
    response = reply(client, thread, body="Thank you.\nI will call tomorrow.")
    assert response.status_code == 302
    assert response["Location"] == thread_url(thread)
    assert flash(response) == ["Message sent."]
    message = Message.objects.filter(thread=thread, automatic=False).last()
    assert message.sender_side == Side.PATIENT
    assert message.author == maria and message.author_name == "Maria Silva"
    thread.refresh_from_db()
    assert thread.awaiting_reply


def test_the_reply_form_is_not_shown_and_a_forged_reply_is_refused_when_replies_are_off(
    maria, thread, clinic
):
    portal_settings_of(clinic, message_replies_allowed=False)
    client = client_for(maria, committing=True)
    page = client.get(thread_url(thread)).content.decode()
    assert "Please call us." in page
    assert 'name="body"' not in page and "Send reply" not in page
    assert "Replies to this message are not taken through the portal" in page
    response = reply(client, thread)
    assert response.status_code == 403
    assert "The clinic does not take replies through the portal." in response.content.decode()
    assert Message.objects.filter(thread=thread).count() == 1


def test_an_empty_or_too_long_reply_is_refused_with_a_message(maria, thread):
    client = client_for(maria, committing=True)
    empty = reply(client, thread, body="   ")
    assert empty.status_code == 200
    assert "This field is required." in empty.content.decode()
    long = reply(client, thread, body="x" * 5001)
    assert long.status_code == 200
    assert "at most 5000 characters" in long.content.decode()
    assert Message.objects.filter(thread=thread).count() == 1


def test_a_pending_patient_sends_only_when_the_clinic_allows_it(maria, chart, thread, clinic):
    chart.status = "pending"
    chart.save(update_fields=["status"])
    client = client_for(maria, committing=True)
    assert 'name="body"' not in client.get(thread_url(thread)).content.decode()
    refused = reply(client, thread)
    assert refused.status_code == 403
    assert "once the clinic has verified your registration" in refused.content.decode()
    assert client.get(NEW).status_code == 403
    portal_settings_of(clinic, pending_patients_may_message=True)
    assert reply(client, thread).status_code == 302
    assert client.get(NEW).status_code == 200


# --- New messages ------------------------------------------------------------------------


def test_the_patient_starts_a_new_message(maria, chart):
    client = client_for(maria, committing=True)
    inbox = client.get(INBOX).content.decode()
    assert f'href="{NEW}"' in inbox
    form = client.get(NEW).content.decode()
    for label in ("Category", "Subject", "Message", "Attachment (optional)"):
        assert f">{label}:</label>" in form
    assert EMERGENCY in form and "Messages are for non-urgent matters." in form
    response = client.post(
        NEW,
        {
            "category": "prescription_refill",
            "subject": "Inhaler renewal",
            "body": "My inhaler runs out next week.",
        },
    )
    thread = Thread.objects.get(patient=chart)
    assert response.status_code == 302 and response["Location"] == thread_url(thread)
    assert flash(response) == ["Message sent."]
    assert thread.category == "prescription_refill" and thread.subject == "Inhaler renewal"
    assert thread.started_by == maria and thread.awaiting_reply
    assert thread.messages.get(automatic=False).body == "My inhaler runs out next week."


def test_a_new_message_is_not_offered_and_a_forged_one_is_refused_when_the_clinic_says_no(
    maria, chart, clinic
):
    portal_settings_of(clinic, patient_messages_allowed=False)
    client = client_for(maria, committing=True)
    assert f'href="{NEW}"' not in client.get(INBOX).content.decode()
    page = client.get(NEW)
    assert page.status_code == 403
    assert 'name="body"' not in page.content.decode()
    forged = client.post(NEW, {"category": "general", "subject": "Hi", "body": "Hello"})
    assert forged.status_code == 403
    assert "The clinic does not take new messages through the portal." in (forged.content.decode())
    assert not Thread.objects.filter(patient=chart).exists()


def test_a_new_message_needs_a_known_category_and_a_subject(maria, chart):
    response = client_for(maria, committing=True).post(
        NEW, {"category": "gossip", "subject": "", "body": "x"}
    )
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not Thread.objects.filter(patient=chart).exists()


# --- Representatives ---------------------------------------------------------------------


def test_a_representative_with_the_messages_scope_reads_and_writes_as_x_for_y(paul, chart, thread):
    client = client_for(paul, chart, committing=True)
    page = client.get(thread_url(thread)).content.decode()
    assert "Please call us." in page and "You are acting for" not in page
    assert "for Maria Silva" in page
    assert reply(client, thread, body="I will bring her in.").status_code == 302
    message = Message.objects.filter(thread=thread, automatic=False).last()
    assert message.author == paul and message.author_relationship == "spouse"
    assert "Paul Rep for Maria Silva" in client.get(thread_url(thread)).content.decode()
    new = client.get(NEW).content.decode()
    assert "You are acting for Maria Silva." in new


def test_a_representative_without_the_messages_scope_sees_nothing(rita, chart, thread):
    client = client_for(rita, chart, committing=True)
    for url in (INBOX, NEW, thread_url(thread)):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Not part of your access" in response.content.decode()
        assert "Your test results" not in response.content.decode()
    assert reply(client, thread).status_code == 403
    assert Message.objects.filter(thread=thread).count() == 1
    assert Message.objects.get(thread=thread).read_by_patient_at is None
    home = client.get("/portal/").content.decode()
    assert "unread message" not in home
    assert f'href="{INBOX}"' not in home


# --- The clinic's switch -----------------------------------------------------------------


def test_the_pages_say_the_portal_is_unavailable_when_the_clinic_turned_it_off(
    maria, thread, clinic
):
    portal_settings_of(clinic, portal_enabled=False)
    client = client_for(maria, committing=True)
    for url in (INBOX, NEW, thread_url(thread)):
        response = client.get(url)
        assert response.status_code == 503, url
        assert "Please call us." not in response.content.decode()
    assert reply(client, thread).status_code == 503
    assert Message.objects.filter(thread=thread).count() == 1
