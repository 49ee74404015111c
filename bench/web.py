"""Throughput of the signed-in portal pages against a bare Django view, in production form.

    .venv/bin/python bench/web.py                      # about 3 minutes on 2 cores
    .venv/bin/python bench/web.py --duration 20 --rounds 3

Starts on 127.0.0.1, with the production settings (``bench.settings_production``: the
production settings plus a bare view and a naive one-query page, see bench/README.md):
gunicorn with sync workers, PostgreSQL (a fresh ``portal_bench_web`` database unless
``--database``), Redis (database 12 unless ``--redis-db``, flushed) and a Celery worker.
Builds one small clinic, signs a patient in server-side (the session keys ``portal_login``
writes) and loads each page with wrk (the thread page: the newest of 12), interleaving
the pages over ``--rounds`` rounds and keeping each page's best round (other work on a
shared machine only ever slows a round down; every round is printed).
Requests carry ``X-Forwarded-Proto: https`` as the TLS proxy would (HTTPS redirect on).

Prints requests per second, the ratio to the bare view, p50/p99 latency, and the
queries each page runs (counted once in-process with the same settings).
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stack

HOST = f"bench.{_stack.BASE_DOMAIN}"

PAGES = [
    # (label, host, path, signed in, text the page must show)
    ("bare Django view", _stack.BASE_DOMAIN, "/bench/bare", False, b"ok"),
    ("one-query page behind login", HOST, "/bench/one-query", True, b"grants: 1"),
    ("portal home", HOST, "/portal/", True, b"Hello, Robin"),
    ("appointments", HOST, "/portal/appointments/", True, b"Dr Ada Bench"),
    ("inbox", HOST, "/portal/messages/", True, b"Question 1"),
    # The newest thread (filled in once it exists): two of its messages were unread.
    ("thread", HOST, "/portal/messages/{thread}/", True, b"Message 3 of thread 1."),
    # 10 reports of 4 results and 20 results alone; 6 tests drawn as trends.
    ("results", HOST, "/portal/health-record/results/", True, b"Trend of Glucose"),
    # 8 current and 6 past medications; 4 allergies; 18 vaccines; 12 documents.
    ("medications", HOST, "/portal/health-record/medications/", True, b"Atorvastatin"),
    ("allergies", HOST, "/portal/health-record/allergies/", True, b"Penicillin"),
    ("immunizations", HOST, "/portal/health-record/immunizations/", True, b"Tetanus"),
    ("documents", HOST, "/portal/health-record/documents/", True, b"Visit summary 1"),
]


def build():
    """One clinic: 300 patients with visits, and Robin (the signed-in patient) with
    12 upcoming and 40 past visits, 12 message threads, 60 results and the rest of a
    health record (``chart_build``)."""
    from django.utils import timezone

    from appointments.models import Appointment, AppointmentType, Provider
    from clinics.models import Clinic, User
    from clinics.services import clinic_ensure_defaults
    from messaging.models import Message, Side, Thread
    from patients.models import Patient, PatientAccess

    clinic = Clinic.objects.create(slug="bench", name="Bench Family Clinic")
    policy = clinic_ensure_defaults(clinic=clinic)
    policy.booking_allowed = policy.cancelling_allowed = True
    policy.save()
    kind = AppointmentType.objects.create(clinic=clinic, name="Check-up", duration_minutes=15)
    providers = [
        Provider.objects.create(clinic=clinic, name=name)
        for name in ("Dr Ada Bench", "Dr Ben Chmark", "Dr Cy Cle")
    ]
    for provider in providers:
        provider.appointment_types.add(kind)
    patients = Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            first_name=f"First{i}",
            last_name=f"Last{i:04d}",
            date_of_birth=dt.date(1950, 1, 1) + dt.timedelta(days=97 * i),
            email=f"p{i}@bench.example",
        )
        for i in range(300)
    )
    robin = Patient.objects.create(
        clinic=clinic,
        first_name="Robin",
        last_name="Bench",
        date_of_birth=dt.date(1985, 3, 4),
        email="robin@bench.example",
    )
    user = User.objects.create_user(
        username="robin", email="robin@bench.example", clinic=clinic, first_name="Robin"
    )
    PatientAccess.objects.create(clinic=clinic, user=user, patient=robin)

    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    visits, slot = [], 0

    def visit(patient, start, provider):
        return Appointment(
            clinic=clinic,
            patient=patient,
            provider=provider,
            appointment_type=kind,
            start=start,
            end=start + dt.timedelta(minutes=15),
            status="completed" if start < now else "booked",
        )

    for hours in [*range(-40 * 24, 0, 24), *range(24, 13 * 24, 24)]:
        visits.append(visit(robin, now + dt.timedelta(hours=hours), providers[0]))
    for patient in patients:
        for _ in range(3):
            slot += 1
            start = now + dt.timedelta(days=slot // 30 - 15, minutes=15 * (slot % 30))
            visits.append(visit(patient, start, providers[1 + slot % 2]))
    Appointment.objects.bulk_create(visits)

    threads = []
    for i in range(12):
        thread = Thread.objects.create(
            clinic=clinic,
            patient=robin,
            subject=f"Question {i + 1}",
            started_by=user,
            last_message_at=now - dt.timedelta(days=i),
            last_sender_side=Side.STAFF,
        )
        Message.objects.bulk_create(
            Message(
                clinic=clinic,
                thread=thread,
                sender_side=Side.STAFF if m % 2 else Side.PATIENT,
                author=None if m % 2 else user,
                author_name="The front desk" if m % 2 else "Robin Bench",
                body=f"Message {m} of thread {i + 1}.",
                created_at=now - dt.timedelta(days=i, hours=4 - m),
                read_by_patient_at=None if (m % 2 and i < 3) else now,
                read_by_staff_at=now,
            )
            for m in range(4)
        )
        threads.append(thread)
    results_build(clinic, robin, now)
    chart_build(clinic, robin, now)
    return user, robin, threads[0]


def results_build(clinic, patient, now):
    """10 released reports of 4 results each (one panel taken every month) and 20
    glucose and weight results alone, all shown to the patient."""
    from decimal import Decimal

    from records.models import DiagnosticReport, Observation

    def row(model, days, **fields):
        date = now - dt.timedelta(days=days)
        return model(
            clinic=clinic,
            patient=patient,
            date=date,
            received_at=date,
            issued=date,
            release_at=date,
            status="final",
            category="laboratory",
            **fields,
        )

    reports = DiagnosticReport.objects.bulk_create(
        row(DiagnosticReport, 30 * i + 1, code="24323-8", display="Metabolic panel")
        for i in range(10)
    )
    tests = (
        ("2823-3", "Potassium", "mmol/L", 3.5, 5.1),
        ("2951-2", "Sodium", "mmol/L", 135, 145),
        ("2160-0", "Creatinine", "umol/L", 60, 110),
        ("3094-0", "Urea", "mmol/L", 2.5, 7.1),
    )
    rows = [
        row(
            Observation,
            30 * i + 1,
            report=report,
            code=code,
            display=name,
            value_quantity=Decimal(str(low)) + Decimal(i % 3),
            value_unit=unit,
            range_low=low,
            range_high=high,
            interpretation="N",
        )
        for i, report in enumerate(reports)
        for code, name, unit, low, high in tests
    ]
    rows += [
        row(
            Observation,
            15 * i + 3,
            code="2345-7" if i % 2 else "29463-7",
            display="Glucose" if i % 2 else "Body weight",
            value_quantity=Decimal(5 + i % 4) if i % 2 else Decimal(70 + i % 3),
            value_unit="mmol/L" if i % 2 else "kg",
            interpretation="H" if i % 4 == 3 else "",
        )
        for i in range(20)
    ]
    Observation.objects.bulk_create(rows)


def chart_build(clinic, patient, now):
    """The rest of Robin's record, as a record system sends it: 8 current and 6 past
    medications, 4 allergies, 18 vaccines over the years and 12 documents."""
    from records.models import AllergyIntolerance, Document, Immunization, Medication

    def common(days):
        date = now - dt.timedelta(days=days)
        return {"clinic": clinic, "patient": patient, "date": date, "received_at": date}

    drugs = [
        "Atorvastatin 20 mg tablet",
        "Metformin 500 mg tablet",
        "Lisinopril 10 mg tablet",
        "Salbutamol 100 mcg inhaler",
        "Vitamin D3 1000 IU capsule",
        "Omeprazole 20 mg capsule",
        "Levothyroxine 50 mcg tablet",
        "Sertraline 50 mg tablet",
        "Amoxicillin 500 mg capsule",
        "Prednisone 5 mg tablet",
        "Ibuprofen 400 mg tablet",
        "Codeine 30 mg tablet",
        "Cetirizine 10 mg tablet",
        "Azithromycin 250 mg tablet",
    ]
    Medication.objects.bulk_create(
        Medication(
            **common(40 * i + 5),
            kind="request" if i % 3 else "statement",
            code=f"rx-{i}",
            display=name,
            status="active" if i < 8 else "completed",
            dosage="Take one tablet by mouth once a day with water.",
            authored_on=now - dt.timedelta(days=40 * i + 5),
            effective_start=now - dt.timedelta(days=40 * i + 4),
            effective_end=None if i < 8 else now - dt.timedelta(days=40 * i - 10),
            refills_allowed=3,
            prescriber="Dr Ada Bench",
        )
        for i, name in enumerate(drugs)
    )
    AllergyIntolerance.objects.bulk_create(
        AllergyIntolerance(
            **common(400 * i + 30),
            code=f"al-{i}",
            display=name,
            clinical_status="active",
            verification_status="confirmed" if i % 2 == 0 else "unconfirmed",
            criticality=("high", "low", "unable-to-assess", "low")[i],
            reactions=reactions,
        )
        for i, (name, reactions) in enumerate(
            [
                ("Penicillin", "Hives\nSwelling of the face"),
                ("Peanuts", "Itchy mouth"),
                ("Latex", ""),
                ("Cat dander", "Sneezing\nWatery eyes"),
            ]
        )
    )
    vaccines = ["Influenza vaccine", "Tetanus, diphtheria", "COVID-19 vaccine", "Hepatitis B"]
    Immunization.objects.bulk_create(
        Immunization(
            **common(200 * i + 10),
            code=f"cvx-{i}",
            display=vaccines[i % 4],
            status="completed",
            lot_number=f"LOT{i:04d}",
            site="Left arm",
        )
        for i in range(18)
    )
    Document.objects.bulk_create(
        Document(
            **common(60 * i + 2),
            kind="visit_summary" if i % 3 else "letter",
            type_display="Visit summary" if i % 3 else "Referral letter",
            title=f"Visit summary {i + 1}" if i % 3 else f"Letter to the cardiology clinic {i + 1}",
            status="current",
            file=f"{clinic.pk}/bench-document-{i}",
            size=48_000 + 1_000 * i,
            sha1="0" * 40,
        )
        for i in range(12)
    )


def signed_in_cookie(user, patient):
    """A portal session made server-side with the keys ``portal_login`` sets."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
    from django.utils.crypto import get_random_string

    from patients.sessions import SESSION_LAST_SEEN, SESSION_PATIENT, SESSION_SIGNED_IN_AT

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    now = time.time()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "clinics.backends.ClinicBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[SESSION_SIGNED_IN_AT] = now
    store[SESSION_LAST_SEEN] = now
    store[SESSION_PATIENT] = patient.pk
    store.save()
    # A browser also sends back the CSRF cookie it got on its first page: a secret of
    # Django's form (letters and digits; any other is refused and replaced on every view).
    csrf = get_random_string(CSRF_SECRET_LENGTH, CSRF_ALLOWED_CHARS)
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}; {settings.CSRF_COOKIE_NAME}={csrf}"


def count_queries(host, path, cookie):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=host, HTTP_X_FORWARDED_PROTO="https")
    if cookie:
        for part in cookie.split("; "):
            name, value = part.split("=", 1)
            client.cookies[name] = value
    client.get(path)  # warm: the first request fills the caches a running server holds
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return response.status_code, len(queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per page")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=6, help="wrk connections")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per page")
    parser.add_argument(
        "--database", default="portal_bench_web", help="PostgreSQL database (portal_bench_*)"
    )
    parser.add_argument("--redis-db", type=int, default=12, help="Redis database number")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated page labels to load besides the bare view (default: all)",
    )
    options = parser.parse_args()

    scratch = _stack.scratch_dir("web")
    env = _stack.production_env(
        database_url=_stack.pg_database(options.database),
        redis_url=_stack.redis_database(options.redis_db),
        static_root=scratch / "static",
    )
    began = time.perf_counter()
    _stack.django_setup(env)
    user, patient, thread = build()
    global PAGES
    only = {label.strip() for label in options.only.split(",") if label.strip()}
    unknown = only - {label for label, *_rest in PAGES}
    if unknown:
        raise SystemExit(f"--only: no page labelled {', '.join(sorted(unknown))}")
    PAGES = [
        (label, host, path.format(thread=thread.pk), auth, text)
        for index, (label, host, path, auth, text) in enumerate(PAGES)
        if index == 0 or not only or label in only
    ]
    cookie = signed_in_cookie(user, patient)
    queries = {
        path: count_queries(host, path, cookie if auth else None)
        for _label, host, path, auth, _text in PAGES
    }
    from django.db import connections

    connections.close_all()
    print(f"set-up (migrate, collectstatic, data): {time.perf_counter() - began:.1f} s")

    port = _stack.free_port()
    _stack.celery_worker("worker", env=env, log_dir=scratch)
    web = _stack.gunicorn("web", env=env, port=port, workers=options.workers, log_dir=scratch)
    meter = _stack.CpuMeter(masters=[web], database=options.database)
    base = f"http://127.0.0.1:{port}"

    for label, host, path, auth, expected in PAGES:
        status, _headers, body = _stack.http_get(
            base + path, host=host, cookie=cookie if auth else None
        )
        if status != 200 or expected not in body:
            raise SystemExit(f"{label}: {path} answered {status} without {expected!r}")

    load_before = os.getloadavg()[0]
    runs = {path: [] for _l, _h, path, _a, _t in PAGES}
    for _round in range(options.rounds):
        for _label, host, path, auth, _text in PAGES:
            kwargs = {
                "host": host,
                "cookie": cookie if auth else None,
                "connections": options.connections,
            }
            if options.warmup:
                _stack.wrk(base + path, duration=options.warmup, **kwargs)
            cpu_before = meter.read()
            result = _stack.wrk(base + path, duration=options.duration, **kwargs)
            spent = meter.spent(cpu_before, meter.read())
            cpu_ms = 1000 * (spent["web"] + spent["db"]) / max(result.requests, 1)
            runs[path].append((result, cpu_ms))
    report(options, runs, queries, load_before)


def report(options, runs, queries, load_before):
    def best(path):
        return max((r for r, _cpu in runs[path]), key=lambda r: r.requests_per_second)

    def cpu(path):
        return statistics.median(c for _r, c in runs[path])

    bare_path = PAGES[0][2]
    bare, bare_cpu = best(bare_path), cpu(bare_path)
    print(
        f"\ngunicorn {options.workers} sync workers, wrk 1 thread {options.connections} "
        f"connections, {options.rounds} x {options.duration} s per page, {os.cpu_count()} cores, "
        f"load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after\n"
        "req/s and latency: the page's best round (other work on the machine only slows a "
        "round down);\nCPU: server CPU per request (gunicorn workers + PostgreSQL backends), "
        "median round; 'by CPU' = bare CPU / page CPU\n"
    )
    print(
        f"{'page':<29} {'req/s':>6} {'of bare':>8} {'p50 ms':>7} {'p99 ms':>7} {'queries':>7} "
        f"{'CPU ms':>7} {'by CPU':>7} {'errors':>6}"
    )
    for label, _host, path, _auth, _text in PAGES:
        run = best(path)
        spread = ", ".join(f"{r.requests_per_second:.0f}" for r, _c in runs[path])
        print(
            f"{label:<29} {run.requests_per_second:>6.0f} "
            f"{run.requests_per_second / bare.requests_per_second:>8.1%} "
            f"{run.p50_ms:>7.2f} {run.p99_ms:>7.2f} {queries[path][1]:>7} {cpu(path):>7.2f} "
            f"{bare_cpu / cpu(path):>7.1%} {sum(r.errors for r, _c in runs[path]):>6}"
            f"   rounds: {spread} req/s"
        )
    print("\nwrk command per page (URL on 127.0.0.1, random port):")
    for _label, _host, path, _auth, _text in PAGES:
        print("  " + best(path).command)


if __name__ == "__main__":
    main()
