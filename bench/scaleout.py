"""Scale-out check: two web processes and two Celery workers behave as one portal.

    .venv/bin/python bench/scaleout.py                   # about 1.5 minutes on 2 cores

Starts, on 127.0.0.1 with the production settings: two gunicorn masters (web A and web B,
2 sync workers each, separate ports, as two hosts behind a load balancer would be), two
Celery workers, one PostgreSQL database (``portal_bench_scaleout``), one Redis (database 9,
flushed; ``--redis-db`` picks another), an S3 API stand-in (moto's server) holding the
uploads' bucket, a loopback SMTP server and a Twilio stand-in. Then, bouncing a browser
between A and B on every request:

1. sign-in: identification on A, contact on B, "send the code" on A, the code (read from
   the email the worker sent) on B, the home page on A and on B: one session everywhere;
2. send limits: the per-destination passcode limit (set to 3/h here) counts sends made on
   A and on B together, so the 4th is refused wherever it lands;
3. lockouts: 10 wrong codes alternating A and B lock the sign-in (the cool-off starts at
   10 failures in a row), and a right code afterwards is refused on either;
4. tenant cache: switching the clinic's portal off (a save, as the admin does) shows the
   "unavailable" page on A and B at once; switching it on restores both;
5. the outbox: 2,000 notifications, each queued twice (as when the relay re-queues a row
   the broker already delivered), sent by both workers: every recipient reached exactly
   once;
6. shared storage: a PDF a patient attaches to a message through web A downloads, byte for
   byte, through web B (and a clinic logo stored by a third process is served by both);
   the objects are private (an unsigned GET to the bucket is refused).

Prints each check with its figures and exits non-zero if any fails.
"""

import argparse
import collections
import http.cookies
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _sinks
import _stack

DATABASE = "portal_bench_scaleout"
HOST = f"bench.{_stack.BASE_DOMAIN}"
FAILURES = []


def check(label, ok, detail=""):
    print(f"  [{'ok' if ok else 'FAILED'}] {label}" + (f": {detail}" if detail else ""))
    if not ok:
        FAILURES.append(label)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Cookies, CSRF tokens and the HTTPS proxy's headers, against any of the web
    processes (the cookie jar is the browser's, not the server's)."""

    def __init__(self, host):
        self.host = host
        self.cookies = {}
        self.opener = urllib.request.build_opener(_NoRedirect)
        self.csrf = None

    def request(self, base, path, data=None, files=None):
        headers = {
            "Host": self.host,
            "X-Forwarded-Proto": "https",
            "Referer": f"https://{self.host}{path}",
            "Origin": f"https://{self.host}",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if files is not None:
            body, headers["Content-Type"] = multipart(
                {**(data or {}), "csrfmiddlewaretoken": self.csrf or ""}, files
            )
        elif data is not None:
            body = urlencode({**data, "csrfmiddlewaretoken": self.csrf or ""}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(base + path, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                status, response_headers, text = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, response_headers, text = exc.code, exc.headers, exc.read()
        for header in response_headers.get_all("Set-Cookie") or []:
            cookie = http.cookies.SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        self.last_body = text
        text = text.decode(errors="replace")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text)
        if token:
            self.csrf = token.group(1)
        return status, response_headers.get("Location", ""), text

    def request_bytes(self, base, path):
        """A GET whose body is returned as bytes (a download)."""
        status, location, _text = self.request(base, path)
        return status, location, self.last_body


def multipart(fields, files):
    """A multipart/form-data body: ``files`` maps a field to (file name, bytes)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def build(options):
    """One clinic, and a chart (with a health-card number and an email) per check."""
    import datetime as dt

    from clinics.models import Clinic, IdentifierType
    from clinics.services import clinic_ensure_defaults
    from patients.models import Patient, PatientIdentifier

    clinic = Clinic.objects.create(slug="bench", name="Bench Clinic")
    clinic_ensure_defaults(clinic=clinic)
    card = IdentifierType.objects.for_clinic(clinic).get(code="health-card")
    people = {}
    for i, name in enumerate(("Robin", "Sasha", "Taylor")):
        patient = Patient.objects.create(
            clinic=clinic,
            first_name=name,
            last_name="Bench",
            date_of_birth=dt.date(1980, 1, 1 + i),
            email=f"{name.lower()}@bench.example",
        )
        number = f"{7000000000 + i}"
        PatientIdentifier.objects.create(
            clinic=clinic, patient=patient, id_type=card, number=number
        )
        people[name] = (number, patient.email)
    return clinic, people


def wait_for_code(mail, recipient, seen, timeout=60):
    """The newest passcode emailed to ``recipient`` that was not read before."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bodies = mail.bodies.get(recipient, [])
        if len(bodies) > seen:
            return re.search(r"^\s*(\d{6})\s*$", bodies[-1], re.M).group(1)
        time.sleep(0.1)
    raise SystemExit(f"no passcode reached {recipient} within {timeout} s")


def start_signin(browser, webs, number, email):
    """Identification, contact and "send" (a code goes out): each step on the next web."""
    a, b = webs
    browser.request(a, "/portal/")
    status, location, _text = browser.request(
        b, "/portal/", {"id_type": "health-card", "id_number": number}
    )
    assert status == 302 and location.endswith("/portal/sign-in/contact/"), (status, location)
    browser.request(a, "/portal/sign-in/contact/")
    status, location, _text = browser.request(
        b, "/portal/sign-in/contact/", {"contact_type": "email", "contact": email}
    )
    assert status == 302 and location.endswith("/portal/sign-in/check/"), (status, location)
    browser.request(a, "/portal/sign-in/check/")
    return browser.request(b, "/portal/sign-in/check/", {})


def check_session(webs, mail, number, email):
    """Returns the signed-in browser (check 6 uses it)."""
    print("1. one session across web A and web B")
    browser = Browser(HOST)
    status, location, _text = start_signin(browser, webs, number, email)
    check("passcode sent (the check step on web B)", status == 302, location)
    code = wait_for_code(mail, email, 0)
    status, location, _text = browser.request(webs[0], "/portal/sign-in/code/", {"code": code})
    check("code accepted on web A", status == 302, f"{status} -> {location}")
    for name, base in zip("AB", webs, strict=True):
        status, _location, text = browser.request(base, "/portal/")
        check(f"signed-in home page on web {name}", status == 200 and "Hello" in text, str(status))
    return browser


def check_send_limit(webs, mail, number, email):
    print("2. passcode send limit (3 per destination per hour) counted across A and B")
    outcomes = []
    for i in range(4):
        order = webs if i % 2 == 0 else webs[::-1]
        status, _location, text = start_signin(Browser(HOST), order, number, email)
        outcomes.append(
            "sent" if status == 302 else "refused" if "Too many codes" in text else status
        )
    check(
        "sends 1-3 go out, the 4th is refused",
        outcomes == ["sent", "sent", "sent", "refused"],
        f"sends ending on web B, A, B, A: {outcomes}",
    )
    time.sleep(2)
    check("exactly 3 codes reached the destination", len(mail.bodies.get(email, [])) == 3)


def check_lockout(webs, mail, clinic, number, email):
    from patients.models import SignInLock

    print("3. sign-in lockout (cool-off at 10 failures in a row) counted across A and B")
    answers, seen = [], 0
    browser = None
    for attempt in range(10):
        if attempt % 5 == 0:
            # Five wrong tries kill a code: ask for a new one.
            browser = Browser(HOST)
            start_signin(browser, webs, number, email)
            code = wait_for_code(mail, email, seen)
            seen += 1
            wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        base = webs[attempt % 2]
        status, _location, text = browser.request(base, "/portal/sign-in/code/", {"code": wrong})
        answers.append(status)
    check(
        "tries 1-9 are wrong codes (200), the 10th locks (429)",
        answers == [200] * 9 + [429],
        f"alternating A/B: {answers}",
    )
    failures = max(
        SignInLock.objects.filter(clinic=clinic).values_list("failures", flat=True), default=0
    )
    check("one lock row counted all 10", failures == 10, f"failures in a row: {failures}")
    browser = Browser(HOST)
    start_signin(browser, webs, number, email)
    code = wait_for_code(mail, email, seen)
    for name, base in zip("AB", webs, strict=True):
        status, _location, text = browser.request(base, "/portal/sign-in/code/", {"code": code})
        check(f"the right code is refused while locked, on web {name}", status == 429, str(status))


def check_tenant_cache(webs, clinic):
    import clinics.middleware  # noqa: F401 - connects the tenant cache's invalidation

    print("4. tenant cache: the portal switched off and on, seen by A and B at once")
    portal = clinic.portal_settings

    def statuses():
        return [Browser(HOST).request(base, "/portal/")[0] for base in webs]

    check("portal on: both serve it", statuses() == [200, 200], str(statuses()))
    portal.portal_enabled = False
    portal.save()
    began = time.perf_counter()
    seen = statuses()
    check(
        "portal off: both answer 503 on the next request",
        seen == [503, 503],
        f"{seen} {1000 * (time.perf_counter() - began):.0f} ms after the save",
    )
    portal.portal_enabled = True
    portal.save()
    check("portal on again: both serve it", statuses() == [200, 200], str(statuses()))


def check_outbox(options, clinic, mail, texts, workers, env):
    from django.db import transaction

    from portal.notifications.models import Notification
    from portal.notifications.services import notify
    from portal.notifications.tasks import enqueue

    count = options.notifications
    print(f"5. the outbox: {count:,} notifications, each queued twice, two workers")
    # Sent per recipient: the passcodes of checks 1-3 went to other addresses.
    before_mail, before_texts = mail.total, texts.total
    recipients = [
        ("email", f"o{i:05d}@bench.example") if i % 2 else ("sms", f"+1613556{i // 2:04d}")
        for i in range(count)
    ]
    began = time.perf_counter()
    rows = []
    for start in range(0, count, 100):
        with transaction.atomic():
            for channel, recipient in recipients[start : start + 100]:
                rows.append(
                    notify(
                        clinic=clinic, channel=channel, recipient=recipient, template="staff_test"
                    )
                )
    for row in rows:
        enqueue(row.pk, clinic.pk)
    deadline = time.monotonic() + 300
    while mail.total + texts.total - before_mail - before_texts < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(3)
    spent = time.perf_counter() - began
    reached = collections.Counter()
    for _channel, recipient in recipients:
        reached[recipient] = mail.by_recipient.get(recipient, 0) + texts.by_recipient.get(
            recipient, 0
        )
    duplicates = sum(n - 1 for n in reached.values() if n > 1)
    lost = sum(1 for n in reached.values() if n == 0)
    states = collections.Counter(
        Notification.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)
    )
    check(
        f"{2 * count:,} tasks for {count:,} notifications: none sent twice, none lost",
        duplicates == 0 and lost == 0,
        f"duplicates {duplicates}, lost {lost}, {count / spent:.0f} messages/s, rows "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items())),
    )
    wait_for_empty_queue(env)
    shares = task_counts(env, workers)
    check(
        "both workers sent a share",
        len(shares) == 2 and all(n > 0 for n in shares.values()),
        ", ".join(f"{k}: {v:,} tasks" for k, v in sorted(shares.items())),
    )


def check_shared_storage(webs, browser, clinic, s3, bucket):
    import io
    from pathlib import Path

    from django.conf import settings
    from django.core.files.base import ContentFile
    from PIL import Image

    from messaging.models import Attachment

    print("6. shared storage: uploaded through web A, downloaded through web B")
    # A PDF of about 1 MB (padding in a comment), so the transfer is not trivially small.
    pdf = b"%PDF-1.4\n%" + os.urandom(512 * 1024).hex().encode() + b"\n%%EOF\n"
    browser.request(webs[0], "/portal/messages/new/")
    began = time.perf_counter()
    status, location, _text = browser.request(
        webs[0],
        "/portal/messages/new/",
        {"category": "general", "subject": "Scan", "body": "Attached."},
        files={"attachment": ("scan.pdf", pdf)},
    )
    uploaded = time.perf_counter() - began
    check("the message with its attachment is sent on web A", status == 302, f"{status}")
    attachment = Attachment.objects.filter(clinic=clinic).latest("pk")
    key = f"attachments/{attachment.file.name}"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    on_disk = (Path(settings.PORTAL_ATTACHMENTS_ROOT) / attachment.file.name).exists()
    check(
        "the file is an object in the bucket, not on web A's disk",
        key in keys and not on_disk,
        key,
    )
    began = time.perf_counter()
    status, _location, body = browser.request_bytes(
        webs[1], f"/portal/messages/attachments/{attachment.pk}/"
    )
    downloaded = time.perf_counter() - began
    check(
        "web B streams the same bytes after its access check",
        status == 200 and body == pdf,
        f"{status}, {len(body):,} of {len(pdf):,} bytes; upload on A {1000 * uploaded:.0f} ms, "
        f"download on B {1000 * downloaded:.0f} ms",
    )
    status = _stack.http_get(
        f"{s3.meta.endpoint_url}/{bucket}/{key}", host=_stack.host_of(s3.meta.endpoint_url)
    )[0]
    check("an unsigned GET of the object is refused by the bucket", status == 403, str(status))
    stranger = Browser(HOST)
    status = stranger.request_bytes(webs[1], f"/portal/messages/attachments/{attachment.pk}/")[0]
    check("a signed-out visitor on web B is sent to sign in", status == 302, str(status))

    logo = io.BytesIO()
    Image.new("RGB", (32, 32), (20, 90, 160)).save(logo, format="PNG")
    clinic.logo.save("bench.png", ContentFile(logo.getvalue()), save=True)
    served = [browser.request_bytes(base, "/branding/logo")[2] == logo.getvalue() for base in webs]
    check("a logo stored by a third process is served by A and B", served == [True, True])


def wait_for_empty_queue(env, timeout=120):
    """Until the broker holds no task (the second copies are claimed and skipped)."""
    import redis

    broker = redis.Redis.from_url(env["REDIS_URL"])
    deadline = time.monotonic() + timeout
    while broker.llen("celery") and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)


def task_counts(env, workers):
    import json
    import subprocess

    done = subprocess.run(
        [str(_stack.VENV_BIN / "celery"), "-A", "portal", "inspect", "stats", "--json"],
        cwd=_stack.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    stats = json.loads(done.stdout or "{}")
    return {name.split("@")[0]: sum(info.get("total", {}).values()) for name, info in stats.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--redis-db", type=int, default=9, help="the Redis database to flush")
    options = parser.parse_args()

    scratch = _stack.scratch_dir("scaleout")
    email_url, mail = _sinks.smtp_sink()
    twilio_url, texts = _sinks.twilio_standin()
    s3, s3_env = _sinks.s3_standin()
    env = _stack.production_env(
        database_url=_stack.pg_database(DATABASE),
        redis_url=_stack.redis_database(options.redis_db),
        static_root=scratch / "static",
        EMAIL_URL=email_url,
        PORTAL_OTP_SENDS_PER_DESTINATION="3/h",
        # Two machines' worth of web processes: uploads must be shared.
        PORTAL_SINGLE_MACHINE="false",
        **s3_env,
        **_sinks.twilio_env(twilio_url),
    )
    _stack.django_setup(env)
    clinic, people = build(options)
    from django.db import connections

    connections.close_all()

    webs = []
    for name in "AB":
        port = _stack.free_port()
        _stack.gunicorn(f"web{name}", env=env, port=port, workers=2, log_dir=scratch)
        webs.append(f"http://127.0.0.1:{port}")
    workers = [_stack.celery_worker(f"worker{i}", env=env, log_dir=scratch) for i in (1, 2)]
    print(
        f"web A {webs[0]}, web B {webs[1]}, 2 Celery workers, one PostgreSQL, Redis and S3 bucket\n"
    )

    try:
        robin = check_session(webs, mail, *people["Robin"])
        check_send_limit(webs, mail, *people["Sasha"])
        check_lockout(webs, mail, clinic, *people["Taylor"])
        check_tenant_cache(webs, clinic)
        check_outbox(options, clinic, mail, texts, workers, env)
        check_shared_storage(webs, robin, clinic, s3, env["S3_BUCKET"])
    except (AssertionError, SystemExit) as exc:
        check("the checks ran to the end", False, repr(exc))
    print("\nall checks passed" if not FAILURES else f"\nFAILED: {', '.join(FAILURES)}")
    if FAILURES:
        for log in sorted(scratch.glob("*.log")):
            print(f"\n--- {log.name} (last 40 lines)")
            print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
