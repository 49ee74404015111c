"""The clinic's message inbox in the admin: lists, filters, search, starting a thread from
the patient's page, the conversation with its inline reply, and "mark handled"."""

import pytest
from django.contrib.auth.context_processors import PermWrapper
from django.contrib.auth.models import Group
from django.core import mail
from django.template.loader import render_to_string

from clinics.roles import CLINIC_ADMIN, FRONT_DESK
from messaging import services
from messaging.models import Message, Side, Thread
from tests.clients import client_for, committed
from tests.factories import PatientFactory, StaffFactory
from tests.messaging.threads import start_thread

pytestmark = pytest.mark.django_db

INBOX = "/admin/messaging/thread/"
ADD = "/admin/messaging/thread/add/"


def change_url(thread):
    return f"{INBOX}{thread.pk}/change/"


def listed(response):
    return [t.subject for t in response.context["cl"].result_list]


def patient_writes(user, thread, body="A question from me."):
    access = user.patient_access.get(patient=thread.patient)
    return committed(services.message_post, thread=thread, body=body, author=user, access=access)


@pytest.fixture
def threads(fiona, maria, chart, bob_chart):
    """Four threads of the demo clinic in different states."""
    quiet = start_thread(fiona, chart, subject="Flu shot")
    asked = start_thread(fiona, chart, subject="Lab results")
    patient_writes(maria, asked)
    handled = start_thread(fiona, chart, subject="Old question")
    patient_writes(maria, handled)
    services.thread_mark_handled(thread=handled, handled_by=fiona)
    Message.objects.filter(thread=handled).update(read_by_staff_at="2030-01-01T00:00Z")
    bobs = start_thread(fiona, bob_chart, subject="Referral for Bob")
    return {"quiet": quiet, "asked": asked, "handled": handled, "bobs": bobs}


# --- The inbox ---------------------------------------------------------------------------


def test_the_inbox_lists_only_the_clinics_threads(threads, fiona, outsider_staff, other_clinic):
    theirs = PatientFactory(clinic=other_clinic, last_name="Theirs")
    start_thread(outsider_staff, theirs, subject="Northside business")
    response = client_for(fiona, committing=True).get(INBOX)
    assert response.status_code == 200
    assert sorted(listed(response)) == sorted(
        ["Flu shot", "Lab results", "Old question", "Referral for Bob"]
    )
    assert "Northside business" not in response.content.decode()


def test_the_inbox_filters_unread_awaiting_reply_and_handled(threads, fiona):
    client = client_for(fiona, committing=True)
    assert listed(client.get(INBOX, {"unread": "yes"})) == ["Lab results"]
    assert "Lab results" not in listed(client.get(INBOX, {"unread": "no"}))
    assert listed(client.get(INBOX, {"awaiting": "yes"})) == ["Lab results"]
    assert listed(client.get(INBOX, {"handled": "yes"})) == ["Old question"]
    assert "Old question" not in listed(client.get(INBOX, {"handled": "no"}))
    assert listed(client.get(INBOX, {"category": "general", "awaiting": "no"})) == [
        "Referral for Bob",
        "Old question",
        "Flu shot",
    ]


def test_the_inbox_searches_subjects_and_patient_names(threads, fiona):
    client = client_for(fiona, committing=True)
    assert listed(client.get(INBOX, {"q": "lab"})) == ["Lab results"]
    assert listed(client.get(INBOX, {"q": "Brown"})) == ["Referral for Bob"]
    assert len(listed(client.get(INBOX, {"q": "Silva"}))) == 3


def test_the_inbox_search_never_finds_another_clinics_threads(
    threads, fiona, outsider_staff, other_clinic
):
    theirs = PatientFactory(clinic=other_clinic, last_name="Silva")
    start_thread(outsider_staff, theirs, subject="Lab results elsewhere")
    assert "Lab results elsewhere" not in listed(
        client_for(fiona, committing=True).get(INBOX, {"q": "lab"})
    )


def test_the_inbox_shows_patient_thread_for_one_patient_from_their_page(threads, fiona, chart):
    response = client_for(fiona, committing=True).get(INBOX, {"patient__id__exact": chart.pk})
    assert sorted(listed(response)) == ["Flu shot", "Lab results", "Old question"]


# --- Starting a thread -------------------------------------------------------------------


def test_staff_start_a_thread_with_the_patient_chosen_from_their_page(fiona, maria, chart):
    client = client_for(fiona, committing=True)
    form = client.get(ADD, {"patient": chart.pk})
    assert form.status_code == 200
    field = form.context["form"].fields["patient"]
    assert list(field.queryset) == [chart]
    assert form.context["form"].initial["patient"] == chart.pk
    content = form.content.decode()
    for label in ("Patient", "Category", "Subject", "Message", "Attachment (optional)"):
        assert f">{label}:</label>" in content
    response = client.post(
        f"{ADD}?patient={chart.pk}",
        {"patient": chart.pk, "category": "referral", "subject": "Your referral", "body": "Sent."},
    )
    thread = Thread.objects.get(patient=chart)
    assert response.status_code == 302 and response["Location"] == change_url(thread)
    assert thread.category == "referral" and thread.started_by == fiona
    assert thread.clinic == chart.clinic
    assert [m.to for m in mail.outbox] == [["maria@example.com"]]


def test_staff_are_warned_when_nobody_can_be_told_of_the_message(fiona, clinic):
    unreachable = PatientFactory(clinic=clinic, email="", mobile="")
    response = client_for(fiona, committing=True).post(
        ADD,
        {"patient": unreachable.pk, "category": "general", "subject": "Hi", "body": "Hello"},
        follow=True,
    )
    assert "Nobody could be told of it" in response.content.decode()
    assert mail.outbox == []


def test_the_start_form_offers_only_the_clinics_patients(fiona, chart, other_clinic):
    theirs = PatientFactory(clinic=other_clinic, last_name="Elsewhere")
    client = client_for(fiona, committing=True)
    assert client.get(ADD, {"patient": theirs.pk}).context["form"].initial.get("patient") is None
    offered = client.get(ADD).context["form"].fields["patient"].queryset
    assert chart in offered and theirs not in offered
    forged = client.post(
        ADD, {"patient": theirs.pk, "category": "general", "subject": "Hi", "body": "Hello"}
    )
    assert forged.status_code == 200
    assert "patient" in forged.context["form"].errors
    assert not Thread.objects.exists()


def test_the_patient_page_link_starts_a_message_and_lists_the_patients_threads(
    fiona, chart, clinic
):
    def render(user):
        return render_to_string(
            "admin/messaging/_patient_messages_link.html",
            {"original": chart, "perms": PermWrapper(user)},
        )

    html = render(fiona)
    assert f'<a href="{ADD}?patient={chart.pk}" class="addlink">Start a message</a>' in html
    assert f'href="{INBOX}?patient__id__exact={chart.pk}"' in html
    nobody = StaffFactory(clinic=clinic, username="noperms")
    nobody.groups.clear()
    assert "href" not in render(nobody)


# --- The conversation --------------------------------------------------------------------


def test_staff_read_the_conversation_and_reply_inline(threads, fiona, maria):
    asked = threads["asked"]
    client = client_for(fiona, committing=True)
    page = client.get(change_url(asked))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Please call us." in content and "A question from me." in content
    assert "Awaiting reply" in content
    assert Message.objects.get(thread=asked, sender_side=Side.PATIENT).read_by_staff_at
    mail.outbox.clear()
    response = client.post(change_url(asked), {"body": "Come on Tuesday.\nBring your card."})
    assert response.status_code == 302 and response["Location"] == change_url(asked)
    reply = Message.objects.filter(thread=asked).last()
    assert reply.sender_side == Side.STAFF and reply.author == fiona
    assert reply.body == "Come on Tuesday.\nBring your card."
    asked.refresh_from_db()
    assert not asked.awaiting_reply
    assert [m.to for m in mail.outbox] == [["maria@example.com"]]
    assert "Come on Tuesday.<br>Bring your card." in client.get(change_url(asked)).content.decode()


def test_a_message_with_a_script_renders_escaped_in_the_admin(fiona, maria, chart):
    thread = start_thread(fiona, chart, subject="<script>alert('s')</script>")
    patient_writes(maria, thread, body="<script>alert('b')</script>\n<img src=x onerror=alert(1)>")
    client = client_for(fiona, committing=True)
    for url in (change_url(thread), INBOX):
        content = client.get(url).content.decode()
        assert "<script>alert(" not in content, url
        assert "<img src=x" not in content, url
        assert "&lt;script&gt;alert(&#x27;s&#x27;)&lt;/script&gt;" in content, url
    content = client.get(change_url(thread)).content.decode()
    assert "&lt;script&gt;alert(&#x27;b&#x27;)&lt;/script&gt;<br>&lt;img src=x" in content


def test_a_representatives_message_is_shown_as_x_for_y(fiona, paul, chart):
    thread = start_thread(fiona, chart)
    patient_writes(paul, thread, body="She is better now.")
    content = client_for(fiona, committing=True).get(change_url(thread)).content.decode()
    assert "Paul Rep for Maria Silva (spouse)" in content


def test_staff_mark_a_thread_handled_and_a_patient_message_reopens_it(threads, fiona, maria):
    asked = threads["asked"]
    client = client_for(fiona, committing=True)
    response = client.post(f"{INBOX}{asked.pk}/handled/")
    assert response.status_code == 302
    asked.refresh_from_db()
    assert asked.handled_at and asked.handled_by == fiona and not asked.awaiting_reply
    assert "Handled at" in client.get(change_url(asked)).content.decode()
    patient_writes(maria, asked, body="One more question.")
    asked.refresh_from_db()
    assert asked.handled_at is None and asked.awaiting_reply


def test_the_mark_handled_action_handles_the_chosen_threads(threads, fiona):
    ids = [threads["asked"].pk, threads["quiet"].pk]
    response = client_for(fiona, committing=True).post(
        INBOX, {"action": "mark_handled", "_selected_action": ids}, follow=True
    )
    assert "2 threads marked handled." in response.content.decode()
    assert Thread.objects.filter(pk__in=ids, handled_at__isnull=False).count() == 2


def test_marking_handled_needs_a_post(threads, fiona):
    assert (
        client_for(fiona, committing=True).get(f"{INBOX}{threads['asked'].pk}/handled/").status_code
        == 403
    )


def test_another_clinics_staff_get_a_404_for_every_thread_page(threads, outsider_staff):
    client = client_for(outsider_staff, committing=True)
    thread = threads["asked"]
    assert client.get(change_url(thread)).status_code == 404
    assert client.post(change_url(thread), {"body": "Hi"}).status_code == 404
    assert client.post(f"{INBOX}{thread.pk}/handled/").status_code == 404
    assert client.get(f"{INBOX}{thread.pk}/history/").status_code == 404
    response = client.post(INBOX, {"action": "mark_handled", "_selected_action": [thread.pk]})
    assert response.status_code in (200, 302)
    assert client.post(f"{INBOX}{thread.pk}/pool/", {"pool": ""}).status_code == 404
    thread.refresh_from_db()
    assert thread.handled_at is None
    assert Message.objects.filter(thread=thread, automatic=False).count() == 2


def test_threads_cannot_be_deleted_from_the_admin(threads, clinic_admin):
    client = client_for(clinic_admin, committing=True)
    assert client.get(f"{INBOX}{threads['asked'].pk}/delete/").status_code == 403
    assert "delete_selected" not in client.get(INBOX).content.decode()


def test_both_roles_may_read_start_reply_and_handle_and_only_clinic_admins_define_pools(clinic):
    pools = {"add_pool", "change_pool", "delete_pool"}
    routes = {"add_poolcategory", "change_poolcategory", "delete_poolcategory"}
    for role, defines_pools in ((FRONT_DESK, False), (CLINIC_ADMIN, True)):
        codenames = set(
            Group.objects.get(name=role)
            .permissions.filter(content_type__app_label="messaging")
            .values_list("codename", flat=True)
        )
        assert codenames == {
            "view_thread",
            "add_thread",
            "change_thread",
            "view_message",
            "add_message",
            "view_pool",
            "view_poolcategory",
            *(pools | routes if defines_pools else ()),
        }, role


def test_staff_without_messaging_permissions_see_no_inbox(threads, clinic):
    nobody = StaffFactory(clinic=clinic, username="noperms")
    nobody.groups.clear()
    client = client_for(nobody, committing=True)
    assert client.get(INBOX).status_code == 403
    assert client.get(change_url(threads["asked"])).status_code == 403
