"""The clinic admin's index (the front desk's work screen) in a busy clinic on PostgreSQL:
100,000 charts, 1 M appointments, 1 M notifications, 200,000 message threads, 100,000
Patient Requests, 20,000 identity confirmations and 50,000 sign-in locks, a few hundred
of each waiting; median and 90th percentile of the page and its query count, against a
small clinic with a handful of waiting items.

    .venv/bin/python bench/workboard.py                  # about 2 minutes on 2 cores
    .venv/bin/python bench/workboard.py --patients 1000000 --appointments 10000000

Needs PostgreSQL (``BENCH_PG``) and Redis (``BENCH_REDIS``; database 11, as scale.py's,
is flushed; ``--redis-db N`` for another); makes
and drops ``portal_bench_workboard``. The charts and appointments come from
``bench/scale.py``'s generator; the queues are generated here the same way
(``INSERT ... SELECT ... FROM generate_series``), then VACUUM ANALYZE.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stack
import scale

DATABASE = "portal_bench_workboard"


def queues(clinic, staff, first_patient, n_patients, options, phases):
    """The queues of ``clinic``: one row in ``--waiting-every`` waits."""
    from django.db import connection

    from messaging.models import Thread
    from patients.models import ChangeRequest, SignInLock, VerificationRequest
    from portal.notifications.models import Notification

    every = options.waiting_every
    patient = f"{first_patient} + mod(g, {n_patients})"
    ago = "now() - g * interval '1 minute'"
    tables = [
        (
            ChangeRequest,
            options.requests,
            {
                "clinic_id": str(clinic.pk),
                "patient_id": patient,
                "kind": "'change'",
                "status": f"CASE WHEN mod(g, {every}) = 0 THEN 'pending' ELSE 'accepted' END",
                "created_at": ago,
            },
        ),
        (
            VerificationRequest,
            options.requests // 5,
            {
                "clinic_id": str(clinic.pk),
                "patient_id": patient,
                "user_id": str(staff.pk),
                "channel": "'email'",
                "destination": "'someone@example.org'",
                "status": f"CASE WHEN mod(g, {every}) = 0 THEN 'pending' ELSE 'declined' END",
                "created_at": ago,
            },
        ),
        (
            Thread,
            options.threads,
            {
                "clinic_id": str(clinic.pk),
                "patient_id": patient,
                "subject": "'Question'",
                "category": "'general'",
                "created_at": ago,
                "last_message_at": ago,
                "last_sender_side": (
                    f"CASE WHEN mod(g, {every}) = 0 THEN 'patient' ELSE 'staff' END"
                ),
            },
        ),
        (
            Notification,
            options.notifications,
            {
                "clinic_id": str(clinic.pk),
                "channel": "'email'",
                "recipient": "'patient' || g || '@example.org'",
                "template": "'message_new'",
                "status": f"CASE WHEN mod(g, {every}) = 0 THEN 'failed' ELSE 'delivered' END",
                "created_at": ago,
                "next_attempt_at": ago,
                "updated_at": ago,
            },
        ),
        (
            SignInLock,
            options.requests // 2,
            {
                "clinic_id": str(clinic.pk),
                "subject": f"md5('{clinic.slug}' || g)",
                "failures": "mod(g, 100)",
                "hard_locked": f"mod(g, {every}) = 0",
                "updated_at": ago,
            },
        ),
    ]
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        for model, count, columns in tables:
            with phases(f"{count:,} {model._meta.verbose_name_plural} at {clinic.slug}"):
                scale.insert_generated(cur, model, count, columns)
        cur.execute("SET session_replication_role = DEFAULT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--notifications", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--waiting-every", type=int, default=200, help="one row in N waits")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per page")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--redis-db", type=int, default=11, help="Redis database to flush and use")
    parser.add_argument("--show-sql", action="store_true", help="print each page's slowest query")
    options = parser.parse_args()
    options.with_overlap_constraint = False

    scratch = _stack.scratch_dir("workboard")
    env = _stack.production_env(
        database_url=_stack.pg_database(DATABASE, keep=options.keep),
        redis_url=_stack.redis_database(options.redis_db),
        static_root=scratch / "static",
    )
    phases = scale.Phases()
    began = time.perf_counter()
    print("generating:")
    with phases("migrate and collectstatic"):
        _stack.django_setup(env)
    data = scale.build(options, phases)

    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from clinics.models import Clinic
    from clinics.roles import CLINIC_ADMIN
    from clinics.services import staff_member_create
    from patients.models import Patient

    pages = []
    for slug, patients in (("big", options.patients), ("small", 300)):
        clinic = Clinic.objects.get(slug=slug)
        admin = staff_member_create(
            clinic=clinic,
            username=f"admin-{slug}",
            password="bench-only-password",
            role=CLINIC_ADMIN,
        )
        device = TOTPDevice.objects.create(user=admin, name="bench", confirmed=True)
        first = Patient.objects.filter(clinic=clinic).order_by("pk").values_list("pk", flat=True)[0]
        sized = (
            options
            if slug == "big"
            else argparse.Namespace(
                notifications=1_000, threads=200, requests=500, waiting_every=options.waiting_every
            )
        )
        queues(clinic, admin, first, patients, sized, phases)
        client = scale.staff_client(admin, device, f"{slug}.{_stack.BASE_DOMAIN}")
        pages.append((f"work screen, {slug} clinic", client, "/admin/", "Waiting for you"))
    with phases("vacuum analyze"), connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(f"  total {time.perf_counter() - began:.0f} s\n")

    results = scale.time_pages(pages, options, "clinic admin index:")
    big, small = results["work screen, big clinic"], results["work screen, small clinic"]
    print(f"\nbig clinic / small clinic: {big['median'] / small['median']:.2f}x")
    print(f"work screen, big clinic: median {big['median']:.0f} ms, {big['queries']} queries")
    del data


if __name__ == "__main__":
    main()
