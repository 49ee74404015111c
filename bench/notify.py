"""Notification throughput: 10,000 emails and text messages through the outbox.

    .venv/bin/python bench/notify.py                     # about 2 minutes on 2 cores
    .venv/bin/python bench/notify.py --count 2000 --workers 2 --concurrency 2

The production pipeline on 127.0.0.1: ``notify()`` writes each row in the caller's
transaction (batches of 100, as a busy web process would), the task is queued on Redis
after commit, and ``--workers`` Celery worker processes (``--concurrency`` each) claim,
render and send through Django's SMTP backend to a loopback SMTP server (aiosmtpd) and
through the real ``twilio`` client to a loopback stand-in of Twilio's API. Half the
notifications are emails, half SMS, each to its own recipient, so the sinks can tell a
duplicate (a recipient reached twice) from a loss (never reached).

Prints messages per second end to end (first ``notify()`` to last delivery) and once the
queue is full (deliveries after the producer finished), duplicates, losses, and the rows'
final states. PostgreSQL database ``portal_bench_notify``; Redis database 10 (flushed).
"""

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _sinks
import _stack

DATABASE = "portal_bench_notify"


def recipients(count):
    """Half emails, half mobile numbers; every one different."""
    for i in range(count):
        if i % 2:
            yield "email", f"n{i:05d}@bench.example"
        else:
            yield "sms", f"+1613555{i // 2:04d}"


def produce(clinic, count, batch=100):
    from django.db import transaction

    from portal.notifications.services import notify

    pending = list(recipients(count))
    for start in range(0, count, batch):
        with transaction.atomic():
            for channel, recipient in pending[start : start + batch]:
                notify(clinic=clinic, channel=channel, recipient=recipient, template="staff_test")


def pg_sessions():
    """Connections ever opened to the bench database (pg_stat_database.sessions)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [DATABASE])
        return cursor.fetchone()[0]


def wait_for(received_total, count, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if received_total() >= count:
            return True
        time.sleep(0.2)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=1, help="pool size per worker")
    parser.add_argument("--timeout", type=int, default=420, help="seconds to wait for delivery")
    options = parser.parse_args()

    scratch = _stack.scratch_dir("notify")
    email_url, mail = _sinks.smtp_sink()
    twilio_url, texts = _sinks.twilio_standin()
    env = _stack.production_env(
        database_url=_stack.pg_database(DATABASE),
        redis_url=_stack.redis_database(10),
        static_root=scratch / "static",
        EMAIL_URL=email_url,
        **_sinks.twilio_env(twilio_url),
    )
    _stack.django_setup(env)
    from django.db import connections

    from clinics.models import Clinic
    from clinics.services import clinic_ensure_defaults

    clinic = Clinic.objects.create(slug="bench", name="Bench Clinic")
    clinic_ensure_defaults(clinic=clinic)

    workers = [
        _stack.celery_worker(
            f"worker{i + 1}", env=env, log_dir=scratch, concurrency=options.concurrency
        )
        for i in range(options.workers)
    ]
    meter = _stack.CpuMeter(masters=workers, database=DATABASE)
    cpu_before = meter.read()
    sessions_before = pg_sessions()

    def delivered():
        return mail.total + texts.total

    began = time.perf_counter()
    produce(clinic, options.count)
    produced = time.perf_counter()
    connections.close_all()
    finished = wait_for(delivered, options.count, options.timeout)
    # Anything sent twice would arrive soon after the rest: give it a moment.
    time.sleep(3)
    cpu = meter.spent(cpu_before, meter.read())
    sessions = pg_sessions() - sessions_before - 1  # this reading's own

    from portal.notifications.models import Notification

    states = collections.Counter(Notification.objects.values_list("status", flat=True))
    expected = {recipient for _channel, recipient in recipients(options.count)}
    reached = set(mail.by_recipient) | set(texts.by_recipient)
    lost = expected - reached
    strangers = reached - expected
    last = max(mail.last_at or 0, texts.last_at or 0)
    end_to_end = last - began
    drained = sum(1 for sink in (mail, texts) for t in sink.times if t > produced)
    print(
        f"\n{options.count:,} notifications ({options.count // 2:,} email, "
        f"{options.count - options.count // 2:,} SMS), {options.workers} Celery workers x "
        f"{options.concurrency}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"producer (notify() in batches of 100, queued after commit): {produced - began:.1f} s")
    print(
        f"delivered: {delivered():,} ({mail.total:,} emails, {texts.total:,} SMS) in "
        f"{end_to_end:.1f} s -> {delivered() / end_to_end:.0f} messages/s end to end"
        + ("" if finished else f"  (timed out after {options.timeout} s)")
    )
    if last > produced:
        print(
            f"after the producer finished: {drained:,} in {last - produced:.1f} s -> "
            f"{drained / (last - produced):.0f} messages/s"
        )
    print(f"duplicates: {mail.duplicates() + texts.duplicates()}")
    print(f"lost: {len(lost)}  (unexpected recipients: {len(strangers)})")
    print("rows by status: " + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items())))
    print(
        f"Celery worker CPU: {1000 * cpu['web'] / max(delivered(), 1):.2f} ms per message; "
        f"PostgreSQL connections opened: {sessions:,}"
    )
    if lost or strangers or mail.duplicates() or texts.duplicates() or not finished:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
