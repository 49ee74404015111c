"""Loopback stand-ins for the outside world: an SMTP server and the Twilio REST API.

Both run in threads of the bench script, on 127.0.0.1, record what reaches them per
recipient (to count duplicates and losses) and stop when the script ends.
"""

import collections
import email
import email.policy
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import _stack
from aiosmtpd.controller import Controller

TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TWILIO_AUTH_TOKEN = "bench-stand-in-token-0123456789ab"
TWILIO_FROM_NUMBER = "+15005550006"


class Received:
    """Deliveries per recipient, with the time of the first and the last."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_recipient = collections.Counter()
        self.bodies = collections.defaultdict(list)
        self.times = []
        self.first_at = self.last_at = None

    def add(self, recipient, body):
        now = time.perf_counter()
        with self.lock:
            self.by_recipient[recipient] += 1
            self.bodies[recipient].append(body)
            self.times.append(now)
            self.first_at = self.first_at or now
            self.last_at = now

    @property
    def total(self):
        return sum(self.by_recipient.values())

    def duplicates(self):
        return sum(n - 1 for n in self.by_recipient.values() if n > 1)


class _SmtpHandler:
    def __init__(self, received):
        self.received = received

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        body = text.get_content() if text else ""
        for recipient in envelope.rcpt_tos:
            self.received.add(recipient.lower(), body)
        return "250 Message accepted for delivery"


def smtp_sink():
    """An SMTP server on 127.0.0.1: (its EMAIL_URL, what it received)."""
    received = Received()
    port = _stack.free_port()
    controller = Controller(
        _SmtpHandler(received), hostname="127.0.0.1", port=port, ready_timeout=10
    )
    controller.start()
    _stack.on_exit(controller.stop)
    return f"smtp://127.0.0.1:{port}", received


def twilio_standin():
    """Twilio's Messages API on 127.0.0.1: (its base URL, what it received).

    Answers each message with 201 and a queued Message resource, as Twilio does.
    """
    received = Received()
    messages_path = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path != messages_path:
                self._reply(404, {"code": 20404, "message": "not found", "status": 404})
                return
            received.add(form.get("To", ""), form.get("Body", ""))
            sid = "SM" + uuid.uuid4().hex
            self._reply(
                201,
                {
                    "sid": sid,
                    "account_sid": TWILIO_ACCOUNT_SID,
                    "api_version": "2010-04-01",
                    "body": form.get("Body"),
                    "direction": "outbound-api",
                    "from": form.get("From"),
                    "to": form.get("To"),
                    "status": "queued",
                    "num_segments": "1",
                    "num_media": "0",
                    "uri": f"{messages_path[:-5]}/{sid}.json",
                },
            )

        def _reply(self, status, payload):
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    _stack.on_exit(stop)
    return f"http://127.0.0.1:{server.server_address[1]}", received


def twilio_env(base_url):
    return {
        "SMS_BACKEND": "portal.notifications.sms.TwilioSmsBackend",
        "TWILIO_API_BASE_URL": base_url,
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": TWILIO_FROM_NUMBER,
    }


S3_BUCKET = "portal-bench-uploads"
S3_REGION = "us-east-1"
S3_KEYS = ("bench-key-id", "bench-secret-not-a-secret")


def s3_standin():
    """moto's S3 server on loopback with an empty bucket, stopped at exit: the boto3 client
    (for looking into the bucket) and the portal's S3_* environment."""
    import boto3
    from moto.server import ThreadedMotoServer

    # One log line per S3 request otherwise (werkzeug's, under the stand-in).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _stack.on_exit(server.stop)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_KEYS[0],
        aws_secret_access_key=S3_KEYS[1],
    )
    client.create_bucket(Bucket=S3_BUCKET)
    return client, {
        "S3_BUCKET": S3_BUCKET,
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": S3_REGION,
        "S3_ACCESS_KEY_ID": S3_KEYS[0],
        "S3_SECRET_ACCESS_KEY": S3_KEYS[1],
    }
