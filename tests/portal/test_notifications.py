"""The notification pipeline.

A notification is a row written in the caller's transaction and sent after commit; the
relay sends what the broker missed; a send claims its row so it happens at most once;
failures end in a status, never in an exception out of the task. Also: what the
messages say, and the read-only, clinic-scoped Notification admin.
"""

import socket
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.template import TemplateSyntaxError
from django.utils import timezone
from kombu.exceptions import OperationalError

from portal.notifications import delivery, registry, tasks
from portal.notifications.delivery import notification_send
from portal.notifications.models import Notification
from portal.notifications.rendering import render_notification
from portal.notifications.services import notify
from portal.notifications.sms import RetryableSendError
from portal.notifications.tasks import notifications_relay
from tests.clients import staff_client
from tests.factories import NotificationFactory
from tests.portal.outbox import (
    REGISTERED,
    RENDERABLE,
    send_now,
    template_exists,
    template_names,
    use_sample_context,
)

pytestmark = pytest.mark.django_db

# Tests that need real commits (the request's own transaction.atomic, threads).
# serialized_rollback restores the migrations' rows (staff groups) for later tests.
transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TEST_MESSAGE_URL = "/admin/clinics/portalsettings/test-message/"
NOTIFICATIONS_URL = "/admin/notifications/notification/"
PHONE = "+16135550123"
ADDRESS = "someone@example.com"


def _email(clinic, recipient=ADDRESS, **fields):
    return NotificationFactory(clinic=clinic, channel="email", recipient=recipient, **fields)


def _sms(clinic, recipient=PHONE, **fields):
    return NotificationFactory(clinic=clinic, channel="sms", recipient=recipient, **fields)


def _closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RateLimitedSmsBackend:
    """An SMS provider that always says "try later"."""

    def send(self, *, to, body, status_callback=None):
        raise RetryableSendError("test: rate limited")


# --- 1. After commit, never on rollback ----------------------------------------------


@transactional
def test_it_enqueues_the_send_only_after_the_transaction_commits(clinic):
    with mock.patch.object(tasks.send_notification, "delay") as delay:
        with transaction.atomic():
            row = notify(clinic=clinic, channel="email", recipient=ADDRESS, template="staff_test")
            assert Notification.objects.filter(pk=row.pk).exists()
            delay.assert_not_called()
        delay.assert_called_once_with(row.pk, clinic.pk)


@transactional
def test_it_sends_the_email_only_once_the_transaction_has_committed(clinic):
    with transaction.atomic():
        row = notify(clinic=clinic, channel="email", recipient=ADDRESS, template="staff_test")
        assert mail.outbox == []
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [ADDRESS]
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT


@transactional
def test_it_records_and_sends_nothing_when_the_transaction_rolls_back(clinic, sms_outbox):
    with mock.patch.object(tasks.send_notification, "delay") as delay:
        with pytest.raises(RuntimeError), transaction.atomic():
            notify(clinic=clinic, channel="email", recipient=ADDRESS, template="staff_test")
            notify(clinic=clinic, channel="sms", recipient=PHONE, template="staff_test")
            raise RuntimeError("the caller's work failed")
        delay.assert_not_called()
    assert not Notification.objects.exists()
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        assert notifications_relay() == 0
    assert mail.outbox == []
    assert sms_outbox == []


def test_it_drops_the_send_of_a_rolled_back_savepoint(clinic, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        kept = notify(clinic=clinic, channel="email", recipient=ADDRESS, template="staff_test")
        with pytest.raises(RuntimeError), transaction.atomic():
            notify(clinic=clinic, channel="sms", recipient=PHONE, template="staff_test")
            raise RuntimeError
    assert len(callbacks) == 1
    assert list(Notification.objects.values_list("pk", flat=True)) == [kept.pk]


def test_it_refuses_an_unknown_template_or_channel(clinic):
    with pytest.raises(ValueError, match="template"):
        notify(clinic=clinic, channel="email", recipient=ADDRESS, template="no_such_template")
    with pytest.raises(ValueError, match="channel"):
        notify(clinic=clinic, channel="pigeon", recipient=ADDRESS, template="staff_test")
    assert not Notification.objects.exists()


# --- 2. Broker down: the request succeeds, the relay sends later -----------------------


@transactional
def test_it_keeps_the_request_working_when_the_broker_is_down_and_relays_later(
    clinic, clinic_admin, monkeypatch, settings
):
    clinic_admin.email = "admin@demo.example"
    clinic_admin.save(update_fields=["email"])
    client = staff_client(clinic_admin)
    attempts = []

    def broker_down(*args, **kwargs):
        attempts.append(args)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        with monkeypatch.context() as patch:
            patch.setattr(tasks.send_notification, "delay", broker_down)
            response = client.post(TEST_MESSAGE_URL, {"channel": "email"})

        assert response.status_code == 302
        assert response["Location"].startswith("/admin/clinics/portalsettings/")
        row = Notification.objects.get()
        assert attempts == [(row.pk, clinic.pk)]
        assert row.status == Notification.Status.PENDING
        assert row.recipient == "admin@demo.example"
        assert row.template == "staff_test"
        assert row.attempts == 0
        assert mail.outbox == []

        # Too fresh: the relay leaves it to the on-commit enqueue for a while.
        assert tasks.relay_pending_notifications.apply().get() == 0

        clock.move_to(start + timedelta(seconds=settings.NOTIFICATION_RELAY_AFTER_SECONDS + 1))
        assert tasks.relay_pending_notifications.apply().get() == 1

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["admin@demo.example"]
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT
    assert row.attempts == 1


@pytest.fixture
def unreachable_broker():
    """Celery publishes for real (not eagerly) to a Redis URL where nothing listens."""
    from portal.celery import app

    saved = {
        "task_always_eager": app.conf.task_always_eager,
        "broker_url": app.conf.broker_url,
    }

    def reset_pools():
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None

    reset_pools()
    app.conf.task_always_eager = False
    app.conf.broker_url = f"redis://127.0.0.1:{_closed_port()}/0"
    try:
        yield app
    finally:
        reset_pools()
        for key, value in saved.items():
            app.conf[key] = value


@transactional
def test_it_commits_promptly_when_celery_cannot_reach_the_broker(clinic, unreachable_broker):
    started = time.monotonic()
    with transaction.atomic():
        row = notify(clinic=clinic, channel="email", recipient=ADDRESS, template="staff_test")
    elapsed = time.monotonic() - started

    assert elapsed < 10, f"commit took {elapsed:.1f}s with the broker down"
    row.refresh_from_db()
    assert row.status == Notification.Status.PENDING
    assert mail.outbox == []


# --- 3. At most once ---------------------------------------------------------------------


def test_it_sends_once_when_the_send_runs_twice(clinic):
    row = _email(clinic)
    assert send_now(row).status == Notification.Status.SENT
    assert send_now(row).status == "skipped"
    assert len(mail.outbox) == 1
    assert row.attempts == 1


def test_it_sends_once_when_the_task_runs_twice(clinic):
    row = _email(clinic)
    assert tasks.send_notification.apply(args=(row.pk, clinic.pk)).get() == "sent"
    assert tasks.send_notification.apply(args=(row.pk, clinic.pk)).get() == "skipped"
    assert len(mail.outbox) == 1


def test_it_sends_once_when_the_relay_requeues_a_sent_notification(clinic):
    row = _email(clinic)
    send_now(row)
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        assert notifications_relay() == 0
    assert len(mail.outbox) == 1


def test_it_does_not_send_a_notification_under_another_clinics_id(clinic, other_clinic):
    row = _email(clinic)
    outcome = notification_send(notification_id=row.pk, clinic_id=other_clinic.pk)
    assert outcome.status == "skipped"
    row.refresh_from_db()
    assert row.status == Notification.Status.PENDING
    assert mail.outbox == []


@pytest.mark.postgres
@transactional
def test_it_sends_exactly_once_when_eight_workers_claim_the_same_row(clinic, sms_outbox):
    if connection.vendor != "postgresql":
        pytest.skip(
            "concurrent claims need PostgreSQL (SQLite serialises writers); "
            "run with DATABASE_URL=postgres://..."
        )
    row = _sms(clinic)
    workers = 8
    barrier = threading.Barrier(workers, timeout=10)
    outcomes, errors = [], []

    def worker():
        try:
            connection.ensure_connection()  # connect first, so the claims really overlap
            barrier.wait()
            outcomes.append(notification_send(notification_id=row.pk, clinic_id=clinic.pk).status)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert sorted(outcomes) == ["sent"] + ["skipped"] * (workers - 1)
    assert len(sms_outbox) == 1
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT
    assert row.attempts == 1


# --- Retries -----------------------------------------------------------------------------


def test_it_backs_off_and_then_gives_up_on_a_retryable_failure(clinic, settings):
    settings.SMS_BACKEND = f"{__name__}.RateLimitedSmsBackend"
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        row = _sms(clinic)
        outcome = send_now(row)
        assert (outcome.status, outcome.retry_in) == (Notification.Status.PENDING, 30)
        assert row.next_attempt_at == start + timedelta(seconds=30)
        assert row.last_error == "test: rate limited"

        clock.move_to(start + timedelta(seconds=31))
        assert send_now(row).status == Notification.Status.FAILED
    assert row.status == Notification.Status.FAILED
    assert row.attempts == 2


def test_it_asks_a_worker_to_retry_after_the_backoff(clinic, settings):
    from celery.exceptions import Retry

    settings.SMS_BACKEND = f"{__name__}.RateLimitedSmsBackend"
    row = _sms(clinic)
    # Called directly, the task runs as a worker would (not eagerly).
    with (
        mock.patch.object(tasks.send_notification, "retry", side_effect=Retry()) as retry,
        pytest.raises(Retry),
    ):
        tasks.send_notification(row.pk, clinic.pk)
    retry.assert_called_once_with(countdown=30)
    row.refresh_from_db()
    assert row.status == Notification.Status.PENDING


def test_it_leaves_an_eager_retry_to_the_relay(clinic, settings):
    settings.SMS_BACKEND = f"{__name__}.RateLimitedSmsBackend"
    row = _sms(clinic)
    assert tasks.send_notification.apply(args=(row.pk, clinic.pk)).get() == "pending"
    row.refresh_from_db()
    assert row.status == Notification.Status.PENDING
    assert row.attempts == 1


# --- 6. What the messages say -------------------------------------------------------------


def _no_template_syntax(text):
    assert "{%" not in text
    assert "%}" not in text
    assert "{{" not in text
    assert "}}" not in text


def test_it_renders_the_staff_test_sms_with_the_clinic_name(clinic):
    rendered = render_notification(_sms(clinic))
    assert rendered.text == (
        "Demo Family Clinic patient portal: test message. Text messages are working."
    )
    assert rendered.subject == ""
    assert rendered.html is None
    _no_template_syntax(rendered.text)


def test_it_renders_the_staff_test_email_with_the_clinic_name(clinic):
    rendered = render_notification(_email(clinic))
    assert rendered.subject == "Test message from the Demo Family Clinic patient portal"
    assert "Demo Family Clinic" in rendered.text
    assert "http://demo.localhost:8000/portal/" in rendered.text
    assert "Demo Family Clinic" in rendered.html
    assert '<a href="http://demo.localhost:8000/portal/">' in rendered.html
    for part in (rendered.subject, rendered.text, rendered.html):
        _no_template_syntax(part)


def test_it_uses_the_clinics_display_name(clinic):
    clinic.display_name = "Demo Clinic at Elm Street"
    clinic.save()
    assert "Demo Clinic at Elm Street patient portal" in render_notification(_sms(clinic)).text


def test_it_does_not_html_escape_plain_text_messages(clinic):
    clinic.display_name = "St. Mary's & <Co>"
    clinic.save()
    sms = render_notification(_sms(clinic))
    email = render_notification(_email(clinic))
    assert sms.text.startswith("St. Mary's & <Co> patient portal:")
    assert "St. Mary's & <Co>" in email.subject
    assert "St. Mary's & <Co>" in email.text
    # The HTML part is still escaped.
    assert "St. Mary&#x27;s &amp; &lt;Co&gt;" in email.html
    assert "<Co>" not in email.html


@pytest.mark.parametrize("template", REGISTERED)
def test_it_has_template_files_for_every_registered_template(template):
    channels = [
        channel
        for channel in Notification.Channel.values
        if all(template_exists(name) for name in template_names(template, channel))
    ]
    assert channels, f"{template!r} is registered but has no complete set of template files"
    for channel in Notification.Channel.values:
        names = template_names(template, channel)
        found = [name for name in names if template_exists(name)]
        assert found in ([], names), f"{template!r}: only some {channel} files exist: {found}"


@pytest.mark.parametrize(("template", "channel"), RENDERABLE)
def test_it_renders_every_registered_template_without_leaking_template_syntax(
    clinic, monkeypatch, template, channel
):
    use_sample_context(monkeypatch, template)
    row = NotificationFactory(
        clinic=clinic,
        channel=channel,
        recipient=PHONE if channel == "sms" else ADDRESS,
        template=template,
    )
    for language, _name in [("en", "English"), ("fr", "Français")]:
        row.language = language
        rendered = render_notification(row)
        parts = [rendered.subject, rendered.text, rendered.html or ""]
        assert rendered.text.strip()
        if channel == "email":
            assert rendered.subject.strip()
            assert "\n" not in rendered.subject
        for part in parts:
            _no_template_syntax(part)
            assert "None" not in part
        assert "Demo Family Clinic" in rendered.text


# --- 7. Failures end in a status, not an exception ----------------------------------------


def test_it_fails_a_notification_whose_template_files_are_missing(clinic, monkeypatch):
    monkeypatch.setitem(registry._builders, "test_without_files", lambda notification: {})
    row = NotificationFactory(
        clinic=clinic, channel="email", recipient=ADDRESS, template="test_without_files"
    )
    assert tasks.send_notification.apply(args=(row.pk, clinic.pk)).get() == "failed"
    row.refresh_from_db()
    assert row.status == Notification.Status.FAILED
    assert row.last_error == "error: TemplateDoesNotExist"
    assert mail.outbox == []


def test_it_fails_a_notification_whose_template_does_not_render(clinic, monkeypatch):
    def broken(notification):
        raise TemplateSyntaxError("Invalid block tag on line 1: 'endblocktranslate'")

    monkeypatch.setattr(delivery, "render_notification", broken)
    row = _sms(clinic)
    assert tasks.send_notification.apply(args=(row.pk, clinic.pk)).get() == "failed"
    row.refresh_from_db()
    assert row.status == Notification.Status.FAILED
    assert row.last_error == "error: TemplateSyntaxError"


def test_it_fails_a_notification_whose_context_rows_are_gone(clinic, monkeypatch):
    def builder(notification):
        return {"patient": Notification.objects.get(pk=notification.context["patient_id"])}

    monkeypatch.setitem(registry._builders, "test_needs_a_row", builder)
    row = NotificationFactory(
        clinic=clinic,
        channel="sms",
        recipient=PHONE,
        template="test_needs_a_row",
        context={"patient_id": 999_999},
    )
    assert tasks.send_notification(row.pk, clinic.pk) == "failed"
    row.refresh_from_db()
    assert row.status == Notification.Status.FAILED
    assert row.last_error == "error: DoesNotExist"


def test_it_cancels_a_notification_its_builder_calls_obsolete(clinic, monkeypatch, sms_outbox):
    def builder(notification):
        raise registry.Obsolete("a newer code was requested")

    monkeypatch.setitem(registry._builders, "test_obsolete", builder)
    row = NotificationFactory(
        clinic=clinic, channel="sms", recipient=PHONE, template="test_obsolete"
    )
    assert tasks.send_notification.apply(args=(row.pk, clinic.pk)).get() == "cancelled"
    row.refresh_from_db()
    assert row.status == Notification.Status.CANCELLED
    assert "a newer code was requested" in row.last_error
    assert sms_outbox == []
    assert send_now(row).status == "skipped"


def test_it_fails_on_an_unexpected_error_without_raising_or_leaking_it(clinic, monkeypatch):
    def explode(notification, rendered):
        raise RuntimeError(f"provider choked on {notification.recipient}: {rendered.text}")

    monkeypatch.setattr(delivery, "deliver", explode)
    row = _sms(clinic)
    # As a worker runs it, and eagerly.
    assert tasks.send_notification(row.pk, clinic.pk) == "failed"
    row.refresh_from_db()
    assert row.status == Notification.Status.FAILED
    assert row.last_error == "error: RuntimeError"

    other = _sms(clinic)
    assert tasks.send_notification.apply(args=(other.pk, clinic.pk)).get() == "failed"
    assert send_now(other).status == "skipped"


# --- 8. The Notification admin ------------------------------------------------------------


def test_it_lists_only_the_clinics_own_notifications_in_the_admin(
    clinic, other_clinic, clinic_admin
):
    _email(clinic, recipient="ours@demo.example")
    _sms(other_clinic, recipient="+16135550999")
    _email(other_clinic, recipient="theirs@northside.example")

    response = staff_client(clinic_admin).get(NOTIFICATIONS_URL)
    assert response.status_code == 200
    assert b"ours@demo.example" in response.content
    assert b"theirs@northside.example" not in response.content
    assert b"+16135550999" not in response.content
    assert response.context["cl"].result_count == 1


def test_it_404s_another_clinics_notification_in_the_admin(clinic, other_clinic, clinic_admin):
    ours = _email(clinic)
    theirs = _email(other_clinic, recipient="theirs@northside.example")
    client = staff_client(clinic_admin)
    assert client.get(f"{NOTIFICATIONS_URL}{ours.pk}/change/").status_code == 200
    response = client.get(f"{NOTIFICATIONS_URL}{theirs.pk}/change/")
    assert response.status_code == 404
    assert b"theirs@northside.example" not in response.content
    assert client.get(f"{NOTIFICATIONS_URL}{theirs.pk}/history/").status_code == 404


def test_it_shows_notifications_read_only_in_the_admin(clinic, clinic_admin):
    row = _email(clinic)
    client = staff_client(clinic_admin)

    changelist = client.get(NOTIFICATIONS_URL)
    assert changelist.status_code == 200
    assert changelist.context["has_add_permission"] is False
    assert f'href="{NOTIFICATIONS_URL}add/"'.encode() not in changelist.content

    assert client.get(f"{NOTIFICATIONS_URL}add/").status_code == 403
    response = client.post(f"{NOTIFICATIONS_URL}add/", {"recipient": "x@example.com"})
    assert response.status_code == 403
    assert Notification.objects.count() == 1
    assert client.get(f"{NOTIFICATIONS_URL}{row.pk}/delete/").status_code == 403

    change = client.get(f"{NOTIFICATIONS_URL}{row.pk}/change/")
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False
    assert b'name="_save"' not in change.content
    assert b'name="recipient"' not in change.content

    response = client.post(
        f"{NOTIFICATIONS_URL}{row.pk}/change/", {"recipient": "x@example.com", "status": "sent"}
    )
    assert response.status_code == 403
    row.refresh_from_db()
    assert (row.recipient, row.status) == (ADDRESS, Notification.Status.PENDING)


def test_it_lets_front_desk_staff_view_notifications(clinic, front_desk):
    _email(clinic, recipient="ours@demo.example")
    response = staff_client(front_desk).get(NOTIFICATIONS_URL)
    assert response.status_code == 200
    assert b"ours@demo.example" in response.content


def test_the_relay_marks_a_row_stuck_in_sending_as_unknown_and_never_resends(clinic):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        row = _email(clinic, status=Notification.Status.SENDING, claimed_at=start, attempts=1)
        clock.move_to(start + timedelta(minutes=14))
        notifications_relay()
        row.refresh_from_db()
        assert row.status == Notification.Status.SENDING
        clock.move_to(start + timedelta(minutes=16))
        notifications_relay()
    row.refresh_from_db()
    assert row.status == Notification.Status.UNKNOWN
    assert mail.outbox == []
    assert send_now(row).status == "skipped"


# --- Attachments ----------------------------------------------------------------------------


def test_an_email_carries_the_files_its_template_registers_built_at_send_time(clinic, monkeypatch):
    built = []

    def files(notification):
        built.append(notification.pk)
        return [
            registry.Attachment("note.txt", "café".encode(), "text/plain", (("format", "flowed"),)),
            registry.Attachment("scan.pdf", b"%PDF-1.4 \x00\x01", "application/pdf"),
        ]

    monkeypatch.setitem(registry._attachment_builders, "staff_test", files)
    row = NotificationFactory(clinic=clinic, channel="email", template="staff_test")
    assert built == []  # nothing is built, or stored, when the row is written
    assert send_now(row).status == Notification.Status.SENT
    assert built == [row.pk]
    parts = {p.get_filename(): p for p in mail.outbox[0].message().walk() if p.get_filename()}
    assert parts["note.txt"].get_content_type() == "text/plain"
    assert parts["note.txt"].get_param("format") == "flowed"
    assert parts["note.txt"].get_payload(decode=True).decode() == "café"
    assert parts["scan.pdf"].get_payload(decode=True) == b"%PDF-1.4 \x00\x01"
    assert mail.outbox[0].alternatives  # the HTML part is still there


def test_a_text_message_never_builds_attachments(clinic, monkeypatch, sms_outbox):
    monkeypatch.setitem(registry._attachment_builders, "staff_test", lambda n: 1 / 0)
    row = NotificationFactory(clinic=clinic, channel="sms", recipient="+16135550123")
    row.template = "staff_test"
    row.save()
    assert send_now(row).status == Notification.Status.SENT
    assert len(sms_outbox) == 1
