"""Inbox and thread pages run a fixed number of queries, with 1 thread or 500 (and with
a conversation of 1 message or 500, each with an attachment)."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from messaging import services
from messaging.models import Attachment, Message, Side, Thread
from tests.clients import client_for
from tests.factories import AttachmentFactory, MessageFactory, ThreadFactory

pytestmark = pytest.mark.django_db

# Pinned counts. Every page reads its session (the database session store in these
# tests); the clinic, the signed-in user and, on portal pages, the account's grants come
# from the shared cache.
# The portal inbox, rendered: the unread total, the page count and one page of threads
# with their unread counts; then from the cache (messaging/page_cache.py): the session only.
# A portal thread page with unread messages: the thread with its patient, its messages
# and their attachments, then the read mark and its audit event (an update and an insert
# in a savepoint: 3 queries), reading first which chart's messages the update changes,
# for the caches that keep figures per chart (``portal.core.cache.ReportsUpdates``: 1).
# Viewed again: rendered once more without the "New" marks (the thread, its messages,
# their attachments; the view was audited with the first read), then from the cache, and
# audited again only after 15 minutes (one insert).
# Admin pages add the staff member's permissions (2); the admin inbox reads one count (no
# second count of every thread: show_full_result_count is off), the clinic's pools for
# the pool filter, and one page; an admin thread page is the portal's first view (every
# staff view is audited) plus the pools offered to move the thread to.
PORTAL_INBOX_QUERIES = 4
PORTAL_INBOX_CACHED_QUERIES = 1
PORTAL_THREAD_QUERIES = 9
PORTAL_THREAD_READ_QUERIES = 4
PORTAL_THREAD_CACHED_QUERIES = 1
PORTAL_THREAD_CACHED_AUDITED_QUERIES = 2
ADMIN_INBOX_QUERIES = 6
ADMIN_THREAD_QUERIES = 12


@pytest.fixture(autouse=True)
def _sessions_in_the_database(settings):
    # With REDIS_URL the session is read from the cache; pin the counts for one engine.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"


def make_threads(patient, count, *, staff):
    """``count`` threads, each with one unread message from the clinic (bulk_create: 500
    rows in a query or two)."""
    now = timezone.now()
    threads = Thread.objects.bulk_create(
        ThreadFactory.build(
            patient=patient,
            subject=f"Subject {n}",
            started_by=staff,
            last_message_at=now,
            last_sender_side=Side.PATIENT if n % 2 else Side.STAFF,
        )
        for n in range(count)
    )
    Message.objects.bulk_create(
        MessageFactory.build(
            thread=thread,
            sender_side=Side.STAFF,
            author=staff,
            author_name="Fiona Desk",
            body="Hello",
            read_by_staff_at=now,
        )
        for thread in threads
    )
    return threads


def make_conversation(thread, count, *, staff, author):
    """``count`` messages alternating sides, each with an attachment row."""
    messages = Message.objects.bulk_create(
        MessageFactory.build(
            thread=thread,
            sender_side=Side.STAFF if n % 2 else Side.PATIENT,
            author=staff if n % 2 else author,
            author_name="Someone",
            author_relationship="" if n % 2 else "spouse",
            body=f"Message {n}\nsecond line",
        )
        for n in range(count)
    )
    Attachment.objects.bulk_create(
        AttachmentFactory.build(
            message=message,
            file=f"{thread.clinic_id}/missing",
            original_name="scan.pdf",
            content_type="application/pdf",
            size=100,
        )
        for message in messages
    )


@pytest.mark.parametrize("count", [1, 500])
def test_the_portal_inbox_runs_a_fixed_number_of_queries(
    count, maria, chart, fiona, django_assert_num_queries
):
    make_threads(chart, count, staff=fiona)
    client = client_for(maria, committing=True)
    client.get("/portal/")  # warms per-process caches (the tenant look-up)
    with django_assert_num_queries(PORTAL_INBOX_QUERIES):
        response = client.get("/portal/messages/")
    assert response.status_code == 200
    listed = response.content.decode().count('class="thread-item')
    assert listed == min(count, 20)
    with django_assert_num_queries(PORTAL_INBOX_CACHED_QUERIES):
        again = client.get("/portal/messages/")
    assert again.content.decode().count('class="thread-item') == listed


@pytest.mark.parametrize("count", [1, 500])
def test_the_portal_thread_page_runs_a_fixed_number_of_queries(
    count, maria, paul, chart, fiona, django_assert_num_queries
):
    threads = make_threads(chart, count, staff=fiona)
    make_conversation(threads[0], count, staff=fiona, author=paul)
    client = client_for(maria, committing=True)
    client.get("/portal/")  # warms per-process caches (the tenant look-up)
    url = f"/portal/messages/{threads[0].pk}/"
    with django_assert_num_queries(PORTAL_THREAD_QUERIES):
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["thread_page"]["messages"] == count + 1
    with django_assert_num_queries(PORTAL_THREAD_READ_QUERIES):
        client.get(url)
    with django_assert_num_queries(PORTAL_THREAD_CACHED_QUERIES):
        again = client.get(url)
    assert again.context["thread_page"]["messages"] == count + 1
    assert again.content.decode().count('class="msg ') == count + 1
    # As when this account's last audited view of the thread is 15 minutes old.
    cache.delete(services.repeat_read_key(thread=threads[0], reader=maria))
    with django_assert_num_queries(PORTAL_THREAD_CACHED_AUDITED_QUERIES):
        client.get(url)


@pytest.mark.parametrize("count", [1, 500])
def test_the_admin_inbox_runs_a_fixed_number_of_queries(
    count, chart, fiona, bob_chart, django_assert_num_queries
):
    make_threads(chart, count, staff=fiona)
    make_threads(bob_chart, count, staff=fiona)
    client = client_for(fiona, committing=True)
    client.get("/admin/")  # the session's first touch, not part of the page
    with django_assert_num_queries(ADMIN_INBOX_QUERIES):
        response = client.get("/admin/messaging/thread/")
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == min(2 * count, 50)


@pytest.mark.parametrize("count", [1, 500])
def test_the_admin_thread_page_runs_a_fixed_number_of_queries(
    count, chart, fiona, paul, django_assert_num_queries
):
    threads = make_threads(chart, count, staff=fiona)
    make_conversation(threads[0], count, staff=fiona, author=paul)
    client = client_for(fiona, committing=True)
    client.get("/admin/")
    with django_assert_num_queries(ADMIN_THREAD_QUERIES):
        response = client.get(f"/admin/messaging/thread/{threads[0].pk}/change/")
    assert response.status_code == 200
    assert len(response.context["conversation"]) == count + 1
