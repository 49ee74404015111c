"""Email through Django's SMTP backend to a real SMTP server (aiosmtpd) on loopback."""

import email
import email.policy
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction
from django.utils import timezone

from portal.notifications.models import Notification
from portal.notifications.services import notify
from tests.factories import NotificationFactory
from tests.portal.outbox import send_now

pytestmark = pytest.mark.django_db

RECIPIENT = "clinic.admin@demo.example"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CollectingHandler:
    """Keeps each message it accepts; can refuse recipients or the message body."""

    def __init__(self):
        self.envelopes = []
        self.rcpt_reply = None
        self.data_reply = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        return [
            email.message_from_bytes(e.original_content, policy=email.policy.default)
            for e in self.envelopes
        ]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1 (free port); Django's SMTP backend points at it."""
    handler = CollectingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield handler
    finally:
        controller.stop()


def _email(clinic):
    return NotificationFactory(clinic=clinic, channel="email", recipient=RECIPIENT)


def test_it_delivers_an_email_over_smtp(clinic, smtp_server, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        row = notify(clinic=clinic, channel="email", recipient=RECIPIENT, template="staff_test")

    assert len(smtp_server.envelopes) == 1
    envelope = smtp_server.envelopes[0]
    assert envelope.rcpt_tos == [RECIPIENT]
    message = smtp_server.messages[0]
    assert message["Subject"] == "Test message from the Demo Family Clinic patient portal"
    assert message["To"] == RECIPIENT
    assert message.get_content_type() == "multipart/alternative"

    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert "Demo Family Clinic patient portal. Email delivery is working." in text.get_content()
    assert "http://demo.localhost:8000/portal/" in text.get_content()
    assert '<a href="http://demo.localhost:8000/portal/">' in html.get_content()
    for part in (text, html):
        assert "{%" not in part.get_content()
        assert "{{" not in part.get_content()

    row.refresh_from_db()
    assert row.status == Notification.Status.SENT
    assert row.attempts == 1
    assert row.sent_at is not None
    assert row.provider_message_id == message["Message-ID"]
    assert row.provider_message_id.endswith("@demo.localhost>")


def test_it_sends_the_email_once_when_the_send_runs_twice(clinic, smtp_server):
    row = _email(clinic)
    assert send_now(row).status == Notification.Status.SENT
    assert send_now(row).status == "skipped"
    assert len(smtp_server.envelopes) == 1


def test_it_keeps_an_email_pending_on_a_temporary_smtp_failure(clinic, smtp_server):
    smtp_server.data_reply = "451 4.3.0 Try again later"
    row = _email(clinic)
    outcome = send_now(row)
    assert outcome.status == Notification.Status.PENDING
    assert row.status == Notification.Status.PENDING
    assert row.attempts == 1
    assert row.next_attempt_at >= timezone.now() + timedelta(seconds=20)
    assert "451" in row.last_error

    smtp_server.data_reply = None
    assert send_now(row).status == Notification.Status.SENT
    assert len(smtp_server.envelopes) == 1
    assert row.attempts == 2


def test_it_fails_an_email_whose_recipient_is_refused(clinic, smtp_server):
    smtp_server.rcpt_reply = "550 5.1.1 No such user"
    row = _email(clinic)
    assert send_now(row).status == Notification.Status.FAILED
    assert row.status == Notification.Status.FAILED
    assert "refused" in row.last_error
    assert RECIPIENT not in row.last_error
    assert smtp_server.envelopes == []


def test_it_fails_an_email_whose_message_is_rejected(clinic, smtp_server):
    smtp_server.data_reply = "554 5.6.0 Message rejected"
    row = _email(clinic)
    assert send_now(row).status == Notification.Status.FAILED
    assert "554" in row.last_error


def test_it_keeps_an_email_pending_when_the_smtp_server_is_down(clinic, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = _free_port()  # nothing listens there
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    row = _email(clinic)
    assert send_now(row).status == Notification.Status.PENDING
    assert row.status == Notification.Status.PENDING
    assert row.last_error == "smtp: ConnectionRefusedError"
