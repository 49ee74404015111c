"""SMS through the real ``twilio`` client, against a stand-in Twilio API on loopback.

The stand-in (``twilio_standin``) is a plain ``http.server`` on 127.0.0.1 in a thread: it
records every request (path, headers, form body) and answers from a scripted queue of
(status, json) replies, else 201 with a queued Message resource. Also here: Twilio's
signed delivery reports (POST /hooks/twilio/status on the clinic's host).
"""

import base64
import collections
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from twilio.request_validator import RequestValidator

from portal.notifications.models import Notification
from portal.notifications.rendering import render_notification
from portal.notifications.services import notify
from portal.notifications.sms import TwilioSmsBackend
from portal.notifications.tasks import notifications_relay
from tests.clients import host_client
from tests.factories import NotificationFactory
from tests.portal.outbox import send_now

pytestmark = pytest.mark.django_db

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "stand-in-auth-token-0123456789ab"
FROM_NUMBER = "+15005550006"
TO_NUMBER = "+16135550123"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
STATUS_CALLBACK = "http://demo.localhost:8000/hooks/twilio/status"
# What the test client's request looks like to the view (no port on the Host header).
SIGNED_URL = "http://demo.localhost/hooks/twilio/status"
EXPECTED_SMS = "Demo Family Clinic patient portal: test message. Text messages are working."

# A reply that closes the connection after reading the request, without answering.
DROP = object()


def _error(status, code, message):
    # Twilio's (legacy) error body, which twilio-python turns into TwilioRestException.
    return (
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


RATE_LIMITED = _error(429, 20429, "Too Many Requests")
SERVER_ERROR = _error(500, 20500, "Internal Server Error")
INVALID_NUMBER = _error(400, 21211, "The 'To' number is not a valid phone number.")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict
    form: dict


@dataclass
class TwilioStandIn:
    """What the stand-in saw, and what it will answer next."""

    port: int = 0
    requests: list = field(default_factory=list)
    replies: collections.deque = field(default_factory=collections.deque)
    sids: list = field(default_factory=list)
    stop: object = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies):
        self.replies.extend(replies)


def _message_resource(form):
    sid = "SM" + uuid.uuid4().hex
    now = format_datetime(timezone.now(), usegmt=True)
    return sid, {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": form.get("Body"),
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "status": "queued",
        "subresource_uris": {"media": f"{MESSAGES_PATH[:-5]}/{sid}/Media.json"},
        "to": form.get("To"),
        "uri": f"{MESSAGES_PATH[:-5]}/{sid}.json",
    }


def _handler_for(standin):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self._answer()

        def do_GET(self):
            self._answer()

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw).items()}
            standin.requests.append(
                RecordedRequest(self.command, self.path, dict(self.headers.items()), form)
            )
            reply = standin.replies.popleft() if standin.replies else None
            if reply is DROP:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply is None:
                sid, payload = _message_resource(form)
                standin.sids.append(sid)
                reply = (201, payload)
            status, payload = reply
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    return Handler


@pytest.fixture
def twilio_standin():
    """A stand-in Twilio REST API on 127.0.0.1 (random port), stopped at teardown."""
    standin = TwilioStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(standin))
    server.daemon_threads = True
    standin.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    stopped = threading.Event()

    def stop():
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    standin.stop = stop
    yield standin
    stop()
    assert not thread.is_alive()


@pytest.fixture
def twilio_api(settings, twilio_standin):
    """The real Twilio backend, pointed at the stand-in."""
    settings.SMS_BACKEND = "portal.notifications.sms.TwilioSmsBackend"
    settings.TWILIO_API_BASE_URL = twilio_standin.base_url
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.TWILIO_TIMEOUT = 5.0
    return twilio_standin


def _sms(clinic, recipient=TO_NUMBER):
    return NotificationFactory(clinic=clinic, channel="sms", recipient=recipient)


# --- Sending -----------------------------------------------------------------------------


def test_it_delivers_an_sms_through_the_twilio_client(
    clinic, twilio_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        row = notify(clinic=clinic, channel="sms", recipient=TO_NUMBER, template="staff_test")

    assert len(twilio_api.requests) == 1
    request = twilio_api.requests[0]
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.form == {
        "To": TO_NUMBER,
        "From": FROM_NUMBER,
        "Body": EXPECTED_SMS,
        "StatusCallback": STATUS_CALLBACK,
    }
    assert request.form["Body"] == render_notification(row).text
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"

    row.refresh_from_db()
    assert row.status == Notification.Status.SENT
    assert row.attempts == 1
    assert row.provider_message_id == twilio_api.sids[0]
    assert row.provider_message_id.startswith("SM")
    assert row.sent_at is not None
    assert row.last_error == ""


def test_it_returns_the_message_sid_from_the_backend(twilio_api):
    sid = TwilioSmsBackend().send(to=TO_NUMBER, body="hello")
    assert sid == twilio_api.sids[0]
    assert twilio_api.requests[0].form == {"To": TO_NUMBER, "From": FROM_NUMBER, "Body": "hello"}


def test_it_retries_a_rate_limited_sms_when_it_is_due(clinic, twilio_api, settings):
    settings.NOTIFICATION_RELAY_AFTER_SECONDS = 0
    twilio_api.script(RATE_LIMITED)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        row = _sms(clinic)
        assert send_now(row).status == Notification.Status.PENDING
        assert row.status == Notification.Status.PENDING
        assert row.attempts == 1
        assert row.next_attempt_at > timezone.now()
        assert "429" in row.last_error
        assert TO_NUMBER not in row.last_error

        # Not due yet: the relay leaves it alone.
        assert notifications_relay() == 0
        assert len(twilio_api.requests) == 1

        clock.move_to(row.next_attempt_at + timedelta(seconds=1))
        assert notifications_relay() == 1

    row.refresh_from_db()
    assert len(twilio_api.requests) == 2
    assert row.status == Notification.Status.SENT
    assert row.attempts == 2
    assert row.provider_message_id == twilio_api.sids[0]
    assert row.last_error == ""


def test_it_gives_up_after_the_last_attempt_is_rate_limited(clinic, twilio_api, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 1
    twilio_api.script(RATE_LIMITED)
    row = _sms(clinic)
    assert send_now(row).status == Notification.Status.FAILED
    assert row.status == Notification.Status.FAILED
    assert "429" in row.last_error


def test_it_never_resends_after_a_server_error(clinic, twilio_api):
    twilio_api.script(SERVER_ERROR)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        row = _sms(clinic)
        assert send_now(row).status == Notification.Status.UNKNOWN
        assert row.status == Notification.Status.UNKNOWN
        assert "500" in row.last_error
        assert row.provider_message_id == ""

        assert send_now(row).status == "skipped"
        clock.move_to(start + timedelta(days=1))
        assert notifications_relay() == 0

    row.refresh_from_db()
    assert row.status == Notification.Status.UNKNOWN
    assert row.attempts == 1
    assert len(twilio_api.requests) == 1


def test_it_never_resends_when_the_connection_drops_after_the_request(clinic, twilio_api):
    # Twilio may have accepted the message before the connection went: resending could
    # text the patient twice, so the outcome is unknown, exactly like a 5xx.
    twilio_api.script(DROP)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        row = _sms(clinic)
        send_now(row)
        assert row.status == Notification.Status.UNKNOWN
        clock.move_to(start + timedelta(days=1))
        assert notifications_relay() == 0
    assert len(twilio_api.requests) == 1


def test_it_fails_an_sms_twilio_refuses(clinic, twilio_api):
    twilio_api.script(INVALID_NUMBER)
    row = _sms(clinic, recipient="+1613555")
    assert send_now(row).status == Notification.Status.FAILED
    assert row.status == Notification.Status.FAILED
    assert "400" in row.last_error
    assert "21211" in row.last_error
    assert "+1613555" not in row.last_error
    assert send_now(row).status == "skipped"
    assert len(twilio_api.requests) == 1


def test_it_keeps_an_sms_pending_when_twilio_is_unreachable(clinic, twilio_api):
    twilio_api.stop()
    row = _sms(clinic)
    outcome = send_now(row)
    assert outcome.status == Notification.Status.PENDING
    assert outcome.retry_in == 30
    assert row.status == Notification.Status.PENDING
    assert row.attempts == 1
    assert row.next_attempt_at > timezone.now()
    assert "connection" in row.last_error
    assert twilio_api.requests == []


# --- Delivery reports --------------------------------------------------------------------


def _report(client, params, signature=None, url=SIGNED_URL, token=AUTH_TOKEN):
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, params)
    return client.post("/hooks/twilio/status", params, HTTP_X_TWILIO_SIGNATURE=signature)


def _sent_sms(clinic, sid):
    return NotificationFactory(
        clinic=clinic,
        channel="sms",
        recipient=TO_NUMBER,
        status=Notification.Status.SENT,
        attempts=1,
        provider_message_id=sid,
        sent_at=timezone.now(),
    )


def _params(sid, status):
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": FROM_NUMBER,
        "To": TO_NUMBER,
        "ApiVersion": "2010-04-01",
    }


@pytest.fixture
def signed(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN


def test_it_marks_an_sms_delivered_on_a_signed_report(clinic, signed):
    sid = "SM" + uuid.uuid4().hex
    row = _sent_sms(clinic, sid)
    bystander = _sent_sms(clinic, "SM" + uuid.uuid4().hex)  # newer: listed first
    at = timezone.now() + timedelta(minutes=2)
    with time_machine.travel(at, tick=False):
        response = _report(host_client("demo"), _params(sid, "delivered"))
    assert response.status_code == 204
    row.refresh_from_db()
    assert row.status == Notification.Status.DELIVERED
    assert row.delivered_at == at
    bystander.refresh_from_db()
    assert bystander.status == Notification.Status.SENT
    assert bystander.delivered_at is None


@pytest.mark.parametrize("provider_status", ["undelivered", "failed"])
def test_it_records_a_failed_delivery_report(clinic, signed, provider_status):
    sid = "SM" + uuid.uuid4().hex
    row = _sent_sms(clinic, sid)
    response = _report(host_client("demo"), _params(sid, provider_status))
    assert response.status_code == 204
    row.refresh_from_db()
    assert row.status == provider_status
    assert row.delivered_at is None


@pytest.mark.parametrize("late_status", ["sent", "undelivered", "failed"])
def test_it_keeps_delivered_when_an_earlier_report_arrives_late(clinic, signed, late_status):
    sid = "SM" + uuid.uuid4().hex
    row = _sent_sms(clinic, sid)
    client = host_client("demo")
    assert _report(client, _params(sid, "delivered")).status_code == 204
    assert _report(client, _params(sid, late_status)).status_code == 204
    row.refresh_from_db()
    assert row.status == Notification.Status.DELIVERED
    assert row.delivered_at is not None


@pytest.mark.parametrize("final_status", ["undelivered", "failed"])
def test_it_keeps_a_failed_delivery_when_a_late_sent_report_arrives(clinic, signed, final_status):
    sid = "SM" + uuid.uuid4().hex
    row = _sent_sms(clinic, sid)
    client = host_client("demo")
    assert _report(client, _params(sid, final_status)).status_code == 204
    assert _report(client, _params(sid, "sent")).status_code == 204
    row.refresh_from_db()
    assert row.status == final_status


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("", id="missing"),
        pytest.param("bm90IGEgc2lnbmF0dXJl", id="garbage"),
        pytest.param(
            RequestValidator("some-other-token").compute_signature(
                SIGNED_URL, _params("SMx", "delivered")
            ),
            id="other-token",
        ),
    ],
)
def test_it_rejects_a_report_without_a_valid_signature(clinic, signed, signature):
    row = _sent_sms(clinic, "SMx")
    response = _report(host_client("demo"), _params("SMx", "delivered"), signature=signature)
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT
    assert row.delivered_at is None


def test_it_rejects_a_report_signed_for_another_clinics_url(clinic, other_clinic, signed):
    row = _sent_sms(clinic, "SMy")
    response = _report(
        host_client("demo"),
        _params("SMy", "delivered"),
        url="http://northside.localhost/hooks/twilio/status",
    )
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT


def test_it_rejects_every_report_when_no_auth_token_is_configured(clinic, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    row = _sent_sms(clinic, "SMz")
    params = _params("SMz", "delivered")
    signature = RequestValidator("").compute_signature(SIGNED_URL, params)
    assert _report(host_client("demo"), params, signature=signature).status_code == 403
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT


def test_it_does_not_update_another_clinics_sms_from_this_clinics_host(
    clinic, other_clinic, signed
):
    sid = "SM" + uuid.uuid4().hex
    theirs = _sent_sms(other_clinic, sid)
    response = _report(host_client("demo"), _params(sid, "delivered"))
    assert response.status_code == 204
    theirs.refresh_from_db()
    assert theirs.status == Notification.Status.SENT
    assert theirs.delivered_at is None

    # The same report on the owning clinic's host does apply.
    response = _report(
        host_client("northside"),
        _params(sid, "delivered"),
        url="http://northside.localhost/hooks/twilio/status",
    )
    assert response.status_code == 204
    theirs.refresh_from_db()
    assert theirs.status == Notification.Status.DELIVERED


def test_it_refuses_a_report_by_get(clinic, signed):
    assert host_client("demo").get("/hooks/twilio/status").status_code == 405


def test_it_applies_a_report_for_an_sms_it_sent_through_twilio(clinic, twilio_api):
    row = _sms(clinic)
    send_now(row)
    sid = twilio_api.sids[0]
    assert row.provider_message_id == sid
    assert twilio_api.requests[0].form["StatusCallback"] == STATUS_CALLBACK

    response = _report(host_client("demo"), _params(sid, "delivered"))
    assert response.status_code == 204
    row.refresh_from_db()
    assert row.status == Notification.Status.DELIVERED
    assert row.delivered_at is not None


# Twilio's newer problem-details body (RFC 9457), which twilio-python turns into
# TwilioServiceException rather than TwilioRestException.
RATE_LIMITED_PROBLEM = (
    429,
    {
        "type": "https://www.twilio.com/docs/errors/20429",
        "title": "Too Many Requests",
        "status": 429,
        "code": 20429,
    },
)


def test_it_retries_a_rate_limit_in_the_newer_error_format(clinic, twilio_api):
    twilio_api.script(RATE_LIMITED_PROBLEM)
    row = _sms(clinic)
    assert send_now(row).status == Notification.Status.PENDING
    assert row.attempts == 1
    assert "429" in row.last_error
