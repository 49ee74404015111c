"""The FHIR API on PostgreSQL at scale: ``Appointment?date=`` for one day of a large clinic,
and a 1,000-Patient transaction Bundle.

    .venv/bin/python bench/fhir_bench.py                                  # 1 M visits, ~3 min
    .venv/bin/python bench/fhir_bench.py --appointments 10000000 --patients 1000000 \
        --with-overlap-constraint --database h_bench10m --keep --redis-db 7   # 10 M, kept
    .venv/bin/python bench/fhir_bench.py --reuse --database h_bench10m --redis-db 7  # again

Needs PostgreSQL (``BENCH_PG``) and Redis (``BENCH_REDIS``; database ``--redis-db``,
default 12, is flushed), like ``scale.py``, whose loader it uses: rows generated in
PostgreSQL (200 providers, visits every quarter hour round the clock, so one day holds
200 × 96 = 19,200 visits whatever the total), plus one history row per visit (the API's
``meta.versionId``). The secondary indexes are rebuilt after the load, the foreign keys
checked (their triggers are skipped for the load), and the no-double-booking exclusion
constraint rebuilt with ``--with-overlap-constraint``. Makes a fresh ``portal_bench_fhir``
database (or fills ``--database``, which must exist and be empty) and drops it at the end
unless ``--keep``; ``--reuse`` times a database a ``--keep`` run built.

Timed in-process through Django's test client with the production settings and a SMART
client's bearer token, one warm-up then ``--runs`` calls, median and p95, with the
statements one call runs: the first page of the busiest day (``_count`` default and
200), its second and last pages, every page of that day through the ``next`` links,
one visit read by id, and a transaction Bundle of 1,000 new Patients (each with a
health-card number), all or nothing; ``EXPLAIN (ANALYZE, BUFFERS)`` of the page query;
``--profile DIR`` keeps cProfile files of a page and an import.
"""

import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys
import time
import uuid
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stack
import scale

HOST = f"big.{_stack.BASE_DOMAIN}"


def build(options, phases):
    from django.db import connection
    from django.utils import timezone

    from appointments.models import Appointment, AppointmentType, Provider
    from clinics.models import Clinic
    from clinics.services import clinic_ensure_defaults
    from patients.models import Patient

    clinic = Clinic.objects.create(slug="big", name="Big Clinic")
    clinic_ensure_defaults(clinic=clinic)
    kind = AppointmentType.objects.create(clinic=clinic, name="Visit", duration_minutes=15)
    providers = Provider.objects.bulk_create(
        Provider(clinic=clinic, name=f"Dr {i:03d}") for i in range(scale.PROVIDERS)
    )
    first_provider = providers[0].pk
    start = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(days=30)
    start = start.replace(minute=0, hour=0)
    n_patients, n_visits = options.patients, options.appointments
    per_provider = n_visits // scale.PROVIDERS
    history = Appointment.history.model._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET session_replication_role = replica")
        with phases(f"{n_patients:,} patients"):
            scale.insert_generated(
                cur,
                Patient,
                n_patients,
                {
                    "clinic_id": str(clinic.pk),
                    "first_name": "'Pat'",
                    "last_name": scale.LAST_NAME_SQL,
                    "date_of_birth": "date '1930-01-01' + mod(g::bigint * 7919, 32000)::int",
                    "created_at": "now()",
                },
                start=0,
            )
        cur.execute("SELECT min(id) FROM patients_patient WHERE clinic_id = %s", [clinic.pk])
        (first_patient,) = cur.fetchone()
        with (
            scale.IndexesRebuilt(
                cur,
                Appointment._meta.db_table,
                phases,
                exclusions=options.with_overlap_constraint,
            ),
            phases(f"{n_visits:,} appointments"),
        ):
            starts = f"(%s::timestamptz + mod(g, {per_provider}) * interval '15 minutes')"
            cur.execute(
                "INSERT INTO appointments_appointment (clinic_id, patient_id, provider_id, "
                'appointment_type_id, start, "end", status, reason, created_at, '
                "calendar_sequence, conflict_override) "
                "SELECT %s, %s + mod(mod(g::bigint, %s) * 48271 + (g / %s) * 7777, %s), "
                f"%s + g / {per_provider}, %s, "
                f"{starts}, {starts} + interval '15 minutes', "
                f"CASE WHEN {starts} < now() THEN 'completed' ELSE 'booked' END, '', now(), "
                "0, false "
                f"FROM generate_series(0, {n_visits - 1}) AS g",
                [clinic.pk, first_patient, n_patients, n_patients, n_patients]
                + [first_provider, kind.pk]
                + [start] * 3,
            )
        with (
            scale.IndexesRebuilt(cur, history, phases),
            phases(f"{n_visits:,} history rows"),
        ):
            columns = [f.column for f in Appointment._meta.concrete_fields]
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cur.execute(
                f"INSERT INTO {history} ({quoted}, history_date, history_type) "
                f"SELECT {quoted}, created_at, '+' FROM appointments_appointment"
            )
        cur.execute("SET session_replication_role = DEFAULT")
        with phases("foreign keys checked (the load skipped their triggers)"):
            foreign_keys_hold(cur)
    with phases("vacuum analyze"), connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return existing()


def foreign_keys_hold(cur):
    """Every foreign key of the loaded tables names a row that exists (what the skipped
    triggers would have checked row by row)."""
    cur.execute(
        "SELECT conrelid::regclass::text, a.attname, confrelid::regclass::text, "
        "af.attname FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1] "
        "WHERE c.contype = 'f' AND c.conrelid IN "
        "('patients_patient'::regclass, 'appointments_appointment'::regclass)"
    )
    for table, column, target, target_column in cur.fetchall():
        cur.execute(
            f'SELECT count(*) FROM {table} t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
            f'(SELECT 1 FROM {target} r WHERE r."{target_column}" = t."{column}")'
        )
        (orphans,) = cur.fetchone()
        if orphans:
            raise RuntimeError(f"{table}.{column}: {orphans} rows name no {target}")


def existing():
    """The big clinic and its busiest day (every provider's visits cover it round the
    clock): the middle of the first provider's visits."""
    from django.db.models import Max, Min

    from appointments.models import Appointment, Provider
    from clinics.models import Clinic

    clinic = Clinic.objects.get(slug="big")
    provider = Provider.objects.for_clinic(clinic).order_by("pk").first()
    span = Appointment.objects.filter(provider=provider).aggregate(Min("start"), Max("start"))
    middle = span["start__min"] + (span["start__max"] - span["start__min"]) / 2
    return clinic, middle.astimezone(clinic.tz).date()


_KEY = {}


def smart_client(clinic):
    """A test client with a new token of the clinic's (one) registered client."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.test import Client

    from fhir_api.models import SmartClient
    from fhir_api.smart import ASSERTION_TYPE, smart_client_register

    key = _KEY.setdefault("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    # A client of this run (a kept database holds earlier runs' clients, with their keys).
    client = _KEY.get("client") or smart_client_register(
        client=SmartClient(
            name="Bench EHR",
            jwks={"keys": [{**public, "kid": "k1"}]},
            scopes="system/Patient.cruds system/Appointment.cruds",
            requests_per_minute=1_000_000,
        ),
        clinic=clinic,
    )
    _KEY["client"] = client
    http = Client(HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https")
    token_url = f"https://{HOST}/fhir/R4/auth/token"
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": token_url,
        "exp": int(time.time()) + 240,
        "jti": uuid.uuid4().hex,
    }
    response = http.post(
        "/fhir/R4/auth/token",
        {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode(claims, key, algorithm="RS384", headers={"kid": "k1"}),
            "scope": client.scopes,
        },
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    return Client(
        HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def fresh_api(clinic):
    """A function giving a test client whose token is less than 200 s old (tokens live
    five minutes)."""
    client = {}

    def api():
        if "made" not in client or time.monotonic() - client["made"] > 200:
            client.update(made=time.monotonic(), http=smart_client(clinic))
        return client["http"]

    return api


def percentile(seconds, share):
    """Nearest-rank percentile of ``seconds`` (sorted), in ms."""
    ordered = sorted(seconds)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)] * 1000


def summary(seconds):
    return (
        f"median {statistics.median(seconds) * 1000:,.0f} ms, "
        f"p95 {percentile(seconds, 0.95):,.0f} ms (n={len(seconds)})"
    )


class Statements:
    """Every statement one call runs, counted (Django's query log keeps only the last
    9,000), and the first 200 kept for EXPLAIN."""

    def __init__(self):
        self.count, self.sql = 0, []

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        if len(self.sql) < 200:
            self.sql.append(context["cursor"].mogrify(sql, params).decode() if params else sql)
        return execute(sql, params, many, context)


def timed(label, runs, fn):
    """One warm-up, one call whose statements are counted, then ``runs`` timed calls."""
    from django.db import connection

    fn()
    statements = Statements()
    with connection.execute_wrapper(statements):
        result = fn()
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - began)
    print(f"  {label}: {summary(seconds)}, {statements.count:,} statements", flush=True)
    return result, statements


def explain(label, captured):
    """EXPLAIN (ANALYZE, BUFFERS) of the page's query on the visits, as the request sent it."""
    from django.db import connection

    sql = next(
        sql for sql in captured.sql if 'FROM "appointments_appointment"' in sql and "LIMIT" in sql
    )
    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        plan = [row[0] for row in cur.fetchall()]
    print(f"  EXPLAIN (ANALYZE, BUFFERS), {label}:")
    for line in plan:
        print(f"    {line}")


def profiled(label, fn, path):
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.runcall(fn)
    profile.dump_stats(path)
    print(f"  profile of {label}: {path}; the portal's functions by cumulative time:")
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(r"/(fhir_api|portal|patients)/", 20)
    stats.sort_stats("tottime").print_stats(12)


def import_entries(count):
    """``count`` new Patients, each with a health-card number no earlier run used."""
    run = time.time_ns() // 1000
    return [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": {
                "resourceType": "Patient",
                "identifier": [
                    {"system": "urn:portal:big:id:health-card", "value": f"{run}{i:04d}"}
                ],
                "name": [{"use": "official", "family": f"Import{i}", "given": ["Bench"]}],
                "birthDate": "1980-01-01",
                "gender": "unknown",
            },
            "request": {"method": "POST", "url": "Patient"},
        }
        for i in range(count)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each page")
    parser.add_argument("--day-runs", type=int, default=3, help="runs through the whole day")
    parser.add_argument("--import-runs", type=int, default=3)
    parser.add_argument("--database", default="portal_bench_fhir")
    parser.add_argument("--redis-db", type=int, default=12, help="Redis database to flush")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="time a database an earlier --keep run built"
    )
    parser.add_argument(
        "--with-overlap-constraint",
        action="store_true",
        help="build the no-double-booking exclusion constraint after the load (the full schema)",
    )
    parser.add_argument("--profile", metavar="DIR", help="cProfile a page and an import into DIR")
    parser.add_argument("--skip-import", action="store_true")
    options = parser.parse_args()

    database_url = _stack.pg_database(options.database, keep=options.keep, reuse=options.reuse)
    redis_url = _stack.redis_database(options.redis_db)
    static_root = _stack.scratch_dir("fhir-static")
    _stack.django_setup(
        _stack.production_env(
            database_url=database_url, redis_url=redis_url, static_root=static_root
        )
    )
    import logging

    from django.db import connection

    logging.getLogger("portal.access").setLevel(logging.WARNING)  # one line per request
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if options.reuse:
        clinic, day = existing()
    else:
        phases = scale.Phases()
        print(f"Building {options.appointments:,} visits and {options.patients:,} patients ...")
        began = time.perf_counter()
        clinic, day = build(options, phases)
        print(f"  built in {time.perf_counter() - began:.0f} s")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM appointments_appointment WHERE clinic_id = %s), "
            "pg_size_pretty(pg_total_relation_size('appointments_appointment')), "
            "pg_size_pretty(pg_total_relation_size('appointments_historicalappointment')), "
            "pg_size_pretty(pg_database_size(current_database()))",
            [clinic.pk],
        )
        visits, table, history, database = cur.fetchone()
    print(
        f"{visits:,} visits in the clinic; appointments {table}, their history {history}, "
        f"database {database}"
    )
    api = fresh_api(clinic)
    path = "/fhir/R4/Appointment"

    def page(query):
        def get():
            response = api().get(path, query)
            assert response.status_code == 200, response.content[:300]
            return response.json()

        return get

    print(f"Appointment?date={day} ({scale.PROVIDERS * 96:,} visits that day)")
    bundle, first_queries = timed(
        "first page, _count default (50)", options.runs, page({"date": day.isoformat()})
    )
    assert len(bundle["entry"]) == 50, len(bundle["entry"])
    bundle, _queries = timed(
        "first page, _count=200", options.runs, page({"date": day.isoformat(), "_count": 200})
    )
    assert len(bundle["entry"]) == 200
    nexts = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    after = parse_qs(urlsplit(nexts[0]).query)["_after"][0]
    _bundle, later_queries = timed(
        "second page, _count=200 (after the first's last row)",
        options.runs,
        page({"date": day.isoformat(), "_count": 200, "_after": after}),
    )

    last_url = {}

    def whole_day(count, pages):
        url, seen = f"{path}?date={day.isoformat()}&_count={count}", 0
        while url:
            last_url[count] = url
            began = time.perf_counter()
            response = api().get(url)
            pages.append(time.perf_counter() - began)
            assert response.status_code == 200, response.content[:300]
            data = response.json()
            seen += len(data.get("entry", []))
            nexts = [link["url"] for link in data["link"] if link["relation"] == "next"]
            url = nexts[0].removeprefix(f"https://{HOST}") if nexts else None
        return seen

    for count, runs in ((200, options.day_runs), (50, min(1, options.day_runs))):
        if not runs:
            continue
        totals, pages = [], []
        for _ in range(runs):
            began = time.perf_counter()
            seen = whole_day(count, pages)
            totals.append(time.perf_counter() - began)
        print(
            f"  the whole day, _count={count}: {seen:,} visits in {-(-seen // count)} pages; "
            f"all pages {summary(totals)}; one page {summary(pages)}",
            flush=True,
        )

    def last_page():
        response = api().get(last_url[200])
        assert response.status_code == 200, response.content[:300]
        return response.json()

    _bundle, last_queries = timed("the day's last page, _count=200", options.runs, last_page)
    explain("first page, _count default", first_queries)
    explain("second page, _count=200", later_queries)
    explain("the day's last page, _count=200", last_queries)
    visit_id = bundle["entry"][0]["resource"]["id"]
    timed("one visit by id", options.runs, lambda: api().get(f"/fhir/R4/Appointment/{visit_id}"))
    if options.profile:
        os.makedirs(options.profile, exist_ok=True)
        profiled(
            "first page, _count=200",
            page({"date": day.isoformat(), "_count": 200}),
            f"{options.profile}/appointment_page.prof",
        )

    if options.skip_import:
        return

    def import_bundle():
        response = api().post(
            "/fhir/R4/",
            json.dumps(
                {"resourceType": "Bundle", "type": "transaction", "entry": import_entries(1000)}
            ),
            content_type="application/fhir+json",
        )
        assert response.status_code == 200, response.content[:500]
        return response

    print("Transaction Bundle of 1,000 new Patients")
    timed("1,000 Patients, all or nothing", options.import_runs, import_bundle)
    if options.profile:
        profiled("1,000-Patient import", import_bundle, f"{options.profile}/import.prof")


if __name__ == "__main__":
    main()
