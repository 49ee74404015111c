"""SMS backends, chosen by dotted path in SMS_BACKEND.

Each ``send`` returns the provider's message id or raises one of the SendError kinds,
which tell the pipeline whether a retry is safe.
"""

import itertools
import logging
import sys
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SendError(Exception):
    """Base for provider failures. Messages carry no recipient or body."""


class RetryableSendError(SendError):
    """Nothing was sent (connection refused, rate limited): safe to try again."""


class AmbiguousSendError(SendError):
    """The provider may have sent it (5xx, timeout after the request): never resend."""


class PermanentSendError(SendError):
    """The provider refused it for good (bad number, unsubscribed)."""


def get_sms_backend(path=None):
    return import_string(path or settings.SMS_BACKEND)()


class ConsoleSmsBackend:
    """Development: prints each text to standard output."""

    _ids = itertools.count(1)

    def send(self, *, to, body, status_callback=None):
        sys.stdout.write(f"--- SMS to {to} ---\n{body}\n---\n")
        sys.stdout.flush()
        return f"console-{next(self._ids)}"


@dataclass
class SentSms:
    to: str
    body: str
    status_callback: str | None
    sid: str


outbox: list[SentSms] = []


class LocmemSmsBackend:
    """Tests: records each text in ``portal.notifications.sms.outbox``."""

    _ids = itertools.count(1)

    def send(self, *, to, body, status_callback=None):
        sid = f"SMlocmem{next(self._ids):08d}"
        outbox.append(SentSms(to=to, body=body, status_callback=status_callback, sid=sid))
        return sid


class TwilioSmsBackend:
    """Sends with the real ``twilio`` client.

    TWILIO_API_BASE_URL replaces the API host, so tests point the client at a stand-in
    server on loopback.
    """

    def __init__(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT),
        )
        if settings.TWILIO_API_BASE_URL:
            self.client.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")

    def send(self, *, to, body, status_callback=None):
        import requests
        from twilio.base.exceptions import TwilioException

        kwargs = {"to": to, "from_": settings.TWILIO_FROM_NUMBER, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioException as exc:
            # Both error formats (TwilioRestException and the newer RFC 9457
            # TwilioServiceException) carry the HTTP status.
            status = getattr(exc, "status", None)
            if status == 429:
                raise RetryableSendError("twilio: rate limited (429)") from None
            if status is None or status >= 500:
                raise AmbiguousSendError(f"twilio: server error ({status})") from None
            code = getattr(exc, "code", None)
            raise PermanentSendError(f"twilio: refused ({status}, code {code})") from None
        except requests.exceptions.ConnectTimeout:
            raise RetryableSendError("twilio: connect timeout") from None
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise RetryableSendError("twilio: connection error") from None
            # The connection broke after the request went out (reset, closed without a
            # reply): Twilio may have accepted it, so it must not be resent.
            raise AmbiguousSendError("twilio: connection lost after the request") from None
        except requests.exceptions.Timeout:
            raise AmbiguousSendError("twilio: timed out waiting for a reply") from None
        return message.sid


def _never_connected(exc) -> bool:
    """True when the request cannot have reached Twilio (refused, DNS, unreachable)."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)
