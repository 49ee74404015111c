"""A clinic with 1 M patients and 10 M appointments on PostgreSQL: admin search, the patient
changelist and a patient's home page, timed against a small clinic.

    .venv/bin/python bench/scale.py                      # about 3 minutes on 2 cores
    .venv/bin/python bench/scale.py --with-overlap-constraint       # the full schema, ~7 min
    .venv/bin/python bench/scale.py --without-search-indexes        # what the indexes buy
    .venv/bin/python bench/scale.py --patients 100000 --appointments 1000000   # quicker

Needs PostgreSQL (``BENCH_PG``, default postgres://postgres@127.0.0.1:5432; trust auth) and
Redis (``BENCH_REDIS``; database 11 is flushed). Makes a fresh ``portal_bench_scale``
database and drops it at the end (``--keep`` leaves it for EXPLAIN sessions).

Rows are generated in PostgreSQL with ``INSERT ... SELECT ... FROM generate_series``. For
the three big tables the secondary indexes are dropped first and rebuilt after the load
(faster than maintaining them row by row), and foreign-key triggers are skipped for the
load session (``session_replication_role = replica``: every id is generated from rows that
exist). The no-double-booking exclusion constraint on appointments is rebuilt only with
``--with-overlap-constraint``: checking 10 M rows against it takes about 4 minutes here and
no timed page reads its index. Otherwise the schema afterwards is exactly what the
migrations made; the script checks that.

Timings run in-process through Django's test client with the production settings
(``bench.settings_production``), a front-desk account with a verified authenticator for
the admin, and a signed-in patient for the home page: median and 90th percentile of
``--runs`` rounds after one warm-up (each round visits every page of a table once), and
the slowest query of each page.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _stack

DATABASE = "portal_bench_scale"
PROVIDERS = 200
SLOT = dt.timedelta(minutes=15)


def _words(text):
    return text.split()


FIRST_NAMES = _words(
    "Olivia Noah Emma Liam Chloe William Alice Thomas Lea Nathan Florence Jacob Zoe Felix "
    "Charlotte Samuel Rosalie Gabriel Juliette Logan Beatrice Leo Clara Adam Mia Arthur "
    "Camille Louis Amelia Raphael Emily Jules Ella Henri Sofia Victor Anna Edouard Maya Hugo"
)
# Three syllable lists: 40 x 40 x 25 = 40,000 surnames, about 25 patients each at 1 M.
SYLLABLES_1 = _words(
    "Tre Gag Bou Cot Lav Pel Ros Mor Bel Fon Dum Ler Mar Ber Gir Ran Lan Dub Sav Roy "
    "Car Hen Lem Pag Mic Per Poi Cha Bla Gau Vez Lap Des Cor Bro Har Mac Wil Ste Kin"
)
SYLLABLES_2 = _words(
    "mbl ndr chet ss ver tin ch ll rr nd gn br st rv ul ic er an on ar "
    "ab ib ob ud ev ox el am im om ad ed id od un en in ay ey oy"
)
SYLLABLES_3 = _words(
    "ay ault eau ier on ette in ard ois ac ot el ant ier son man ley ton ford well ing dale "
    "by ham wood"
)


def sql_array(words):
    return "(ARRAY[" + ",".join(f"'{w}'" for w in words) + "])"


LAST_NAME_SQL = (
    f"initcap({sql_array(SYLLABLES_1)}[1 + mod(g, 40)]"
    f" || {sql_array(SYLLABLES_2)}[1 + mod(g / 40, 40)]"
    f" || {sql_array(SYLLABLES_3)}[1 + mod(g / 1600, 25)])"
)


def last_name_of(g):
    return (
        SYLLABLES_1[g % 40] + SYLLABLES_2[(g // 40) % 40] + SYLLABLES_3[(g // 1600) % 25]
    ).capitalize()


class Phases:
    def __init__(self):
        self.times = []

    def __call__(self, label):
        phases = self

        class _Phase:
            def __enter__(self):
                self.began = time.perf_counter()
                print(f"  {label} ...", end="", flush=True)

            def __exit__(self, *exc):
                spent = time.perf_counter() - self.began
                phases.times.append((label, spent))
                print(f" {spent:.1f} s", flush=True)

        return _Phase()


def insert_generated(cursor, model, count, columns, *, start=1):
    """INSERT ``count`` rows of ``model`` from generate_series (``g`` runs from ``start``).

    ``columns`` maps column names to SQL expressions; any other column gets NULL if
    nullable, else the field's default (what the ORM would have written).
    """
    from django.db import connection

    names, exprs, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        names.append(connection.ops.quote_name(field.column))
        if field.column in columns:
            exprs.append(columns[field.column])
        elif field.null:
            exprs.append("NULL")
        else:
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    cursor.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) "
        f"SELECT {', '.join(exprs)} FROM generate_series({start}, {start + count - 1}) AS g",
        params,
    )


def schema_of(cursor, table):
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table]
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass ORDER BY 1",
        [table],
    )
    return indexes, cursor.fetchall()


class IndexesRebuilt:
    """Drop ``table``'s secondary indexes and exclusion constraints for a bulk load and
    build them again afterwards (primary key, unique, check and foreign-key constraints
    stay). ``exclusions=False`` leaves the exclusion constraints out."""

    def __init__(self, cursor, table, phases, *, exclusions=True):
        self.cursor, self.table, self.phases = cursor, table, phases
        self.rebuild_exclusions = exclusions

    def __enter__(self):
        cur, table = self.cursor, self.table
        self.before = schema_of(cur, table)
        cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'x'",
            [table],
        )
        self.exclusions = cur.fetchall()
        for name, _definition in self.exclusions:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cur.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname "
            "AND c.conrelid = %s::regclass)",
            [table, table],
        )
        self.indexes = cur.fetchall()
        for name, _definition in self.indexes:
            cur.execute(f'DROP INDEX "{name}"')
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            return
        cur = self.cursor
        for name, definition in self.indexes:
            with self.phases(f"index {name}"):
                cur.execute(definition)
        expected = self.before
        if self.rebuild_exclusions:
            for name, definition in self.exclusions:
                with self.phases(f"constraint {name}"):
                    cur.execute(f'ALTER TABLE {self.table} ADD CONSTRAINT "{name}" {definition}')
        else:
            left_out = {name for name, _definition in self.exclusions}
            print(f"  left out (--with-overlap-constraint builds it): {', '.join(left_out)}")
            expected = tuple(
                [row for row in rows if row[0] not in left_out] for rows in self.before
            )
        if schema_of(cur, self.table) != expected:
            raise RuntimeError(f"{self.table}: the schema differs after the rebuild")


def build(options, phases):
    """Two clinics: "big" with the generated rows, "small" with 300 patients; each has a
    signed-in patient with ten visits, and big has a front-desk account."""
    from django.db import connection, transaction
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from appointments.models import Appointment, AppointmentType, Provider
    from clinics.models import Clinic, IdentifierType, User
    from clinics.roles import FRONT_DESK
    from clinics.services import clinic_ensure_defaults, staff_member_create
    from patients.models import Patient, PatientAccess, PatientIdentifier

    clinics = {}
    for slug, providers in (("big", PROVIDERS), ("small", 5)):
        clinic = Clinic.objects.create(slug=slug, name=f"{slug.title()} Clinic")
        clinic_ensure_defaults(clinic=clinic)
        kind = AppointmentType.objects.create(clinic=clinic, name="Visit", duration_minutes=15)
        rows = Provider.objects.bulk_create(
            Provider(clinic=clinic, name=f"Dr {i:03d}") for i in range(providers)
        )
        clinics[slug] = (clinic, kind, [p.pk for p in rows])
    big, big_kind, big_providers = clinics["big"]
    staff = staff_member_create(
        clinic=big, username="frontdesk", password="bench-only-password", role=FRONT_DESK
    )
    device = TOTPDevice.objects.create(user=staff, name="bench", confirmed=True)

    now = timezone.now().replace(second=0, microsecond=0)
    start = now - dt.timedelta(days=400)
    n_patients, n_visits = options.patients, options.appointments
    first_names = sql_array(FIRST_NAMES)
    with connection.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET session_replication_role = replica")
        with (
            IndexesRebuilt(cur, Patient._meta.db_table, phases),
            phases(f"{n_patients:,} patients"),
        ):
            insert_generated(
                cur,
                Patient,
                n_patients,
                {
                    "clinic_id": str(big.pk),
                    "first_name": f"{first_names}[1 + mod(g, {len(FIRST_NAMES)})]",
                    "last_name": LAST_NAME_SQL,
                    "date_of_birth": "date '1930-01-01' + mod(g::bigint * 7919, 32000)::int",
                    "email": "'patient' || g || '@example.org'",
                    "created_at": "now()",
                },
                start=0,
            )
        cur.execute("SELECT min(id), max(id) FROM patients_patient WHERE clinic_id = %s", [big.pk])
        first_patient, last_patient = cur.fetchone()
        assert last_patient - first_patient + 1 == n_patients
        card = IdentifierType.objects.for_clinic(big).get(code="health-card")
        with (
            IndexesRebuilt(cur, PatientIdentifier._meta.db_table, phases),
            phases(f"{n_patients:,} identifiers"),
        ):
            cur.execute(
                "INSERT INTO patients_patientidentifier (clinic_id, patient_id, id_type_id, "
                "number) SELECT clinic_id, id, %s, (4000000000 + id - %s)::text "
                "FROM patients_patient WHERE clinic_id = %s",
                [card.pk, first_patient, big.pk],
            )
        assert big_providers == list(range(big_providers[0], big_providers[0] + PROVIDERS))
        # Visit g goes to provider g / (N_visits / 200), at its (g mod N_visits / 200)-th
        # quarter hour from 400 days ago: rows arrive in (provider, start) order, the order
        # of the no-double-booking index, which then builds several times faster. Patient:
        # ((g mod N) * 48271 + (g / N) * 7777) mod N, a bijection on each block of N visits,
        # so every patient has N_visits / N visits at scattered times.
        per_provider = n_visits // PROVIDERS
        with (
            IndexesRebuilt(
                cur, Appointment._meta.db_table, phases, exclusions=options.with_overlap_constraint
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
                [big.pk, first_patient, n_patients, n_patients, n_patients]
                + [big_providers[0], big_kind.pk]
                + [start] * 3,
            )
        cur.execute("SET session_replication_role = DEFAULT")
        cur.execute("RESET maintenance_work_mem")
    # What autovacuum would have done by the time anyone searches: statistics, and the
    # visibility map that lets counts use index-only scans.
    with phases("vacuum analyze"), connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")

    people = {}
    for slug, (clinic, kind, providers) in clinics.items():
        with transaction.atomic():
            if slug == "big":
                # A generated patient: their ten visits came with the bulk load.
                patient = Patient.objects.get(pk=first_patient + n_patients // 2)
            else:
                patient = Patient.objects.create(
                    clinic=clinic,
                    first_name="Sam",
                    last_name="Small",
                    date_of_birth=dt.date(1980, 1, 1),
                )
                Patient.objects.bulk_create(
                    Patient(
                        clinic=clinic,
                        first_name="P",
                        last_name=f"S{i}",
                        date_of_birth=dt.date(1970, 1, 1),
                    )
                    for i in range(300)
                )
                Appointment.objects.bulk_create(
                    Appointment(
                        clinic=clinic,
                        patient=patient,
                        provider_id=providers[0],
                        appointment_type=kind,
                        start=start + i * dt.timedelta(days=52),
                        end=start + i * dt.timedelta(days=52) + SLOT,
                        status="completed" if start + i * dt.timedelta(days=52) < now else "booked",
                    )
                    for i in range(10)
                )
            user = User.objects.create_user(
                username=f"patient-{slug}", clinic=clinic, first_name=patient.first_name
            )
            PatientAccess.objects.create(clinic=clinic, user=user, patient=patient)
        people[slug] = (clinic, user, patient)
    sample = first_patient + n_patients // 3
    return {
        "people": people,
        "staff": (staff, device),
        "surname": last_name_of(sample - first_patient),
        "first_name": FIRST_NAMES[(sample - first_patient) % len(FIRST_NAMES)],
        "id_number": str(4000000000 + sample - first_patient),
    }


def staff_client(staff, device, host):
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    client = Client(HTTP_HOST=host, HTTP_X_FORWARDED_PROTO="https")
    client.force_login(staff)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def patient_client(user, patient, host):
    from django.test import Client

    from patients.sessions import SESSION_LAST_SEEN, SESSION_PATIENT, SESSION_SIGNED_IN_AT

    client = Client(HTTP_HOST=host, HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user, backend="clinics.backends.ClinicBackend")
    session = client.session
    session[SESSION_SIGNED_IN_AT] = session[SESSION_LAST_SEEN] = time.time()
    session[SESSION_PATIENT] = patient.pk
    session.save()
    return client


def timed(pages, runs):
    """Median and 90th percentile per page: one warm-up each, then ``runs`` rounds that
    visit every page once (so a noisy moment on the machine hits all pages alike)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _label, client, path, expect in pages:
        response = client.get(path)
        if response.status_code != 200 or expect.encode() not in response.content:
            raise SystemExit(f"{path}: {response.status_code} without {expect!r}")
    # Queries are counted once up front: within a minute of sign-in, so the idle-timeout
    # middleware's once-a-minute session write is not among them.
    captured = {}
    for label, client, path, _expect in pages:
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        captured[label] = queries.captured_queries
    times = {label: [] for label, *_rest in pages}
    for _ in range(runs):
        for label, client, path, _expect in pages:
            began = time.perf_counter()
            client.get(path)
            times[label].append((time.perf_counter() - began) * 1000)
    results = {}
    for label, *_rest in pages:
        slowest = max(
            captured[label], key=lambda q: float(q["time"]), default={"time": 0, "sql": "-"}
        )
        ordered = sorted(times[label])
        results[label] = {
            "median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))],
            "queries": len(captured[label]),
            "slowest": (float(slowest["time"]) * 1000, slowest["sql"]),
        }
    return results


def drop_search_indexes():
    from importlib import import_module

    from django.db import connection

    names = import_module("patients.migrations.0005_search_indexes").INDEXES
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP INDEX {name}")
    print(f"  dropped for this run: {', '.join(names)}")


def time_pages(pages, options, heading):
    print(f"\n{heading}")
    print(f"{'page':<36} {'median ms':>10} {'p90 ms':>8} {'queries':>8} {'slowest query ms':>17}")
    results = timed(pages, options.runs)
    for label, *_rest in pages:
        result = results[label]
        print(
            f"{label:<36} {result['median']:>10.1f} {result['p90']:>8.1f} "
            f"{result['queries']:>8} {result['slowest'][0]:>17.1f}"
        )
        if options.show_sql:
            print(f"    {result['slowest'][1][:600]}")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--appointments", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=15, help="timed requests per page")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--without-search-indexes",
        action="store_true",
        help="drop the indexes of patients/migrations/0005_search_indexes.py before timing "
        "(to see what they buy)",
    )
    parser.add_argument(
        "--with-overlap-constraint",
        action="store_true",
        help="also rebuild the no-double-booking exclusion constraint (about 4.5 more "
        "minutes at 10 M; no timed page reads its index)",
    )
    parser.add_argument("--show-sql", action="store_true", help="print each page's slowest query")
    options = parser.parse_args()
    if options.appointments % options.patients or options.appointments % PROVIDERS:
        raise SystemExit(f"--appointments must be a multiple of --patients and of {PROVIDERS}")

    scratch = _stack.scratch_dir("scale")
    env = _stack.production_env(
        database_url=_stack.pg_database(DATABASE, keep=options.keep),
        redis_url=_stack.redis_database(11),
        static_root=scratch / "static",
    )
    phases = Phases()
    began = time.perf_counter()
    print("generating:")
    with phases("migrate and collectstatic"):
        _stack.django_setup(env)
    data = build(options, phases)
    if options.without_search_indexes:
        drop_search_indexes()
    generation = time.perf_counter() - began
    print(f"  total {generation:.0f} s\n")

    staff, device = data["staff"]
    admin = staff_client(staff, device, f"big.{_stack.BASE_DOMAIN}")
    surname, first_name, number = data["surname"], data["first_name"], data["id_number"]
    pages = [
        ("admin: patient changelist", admin, "/admin/patients/patient/", "Select patient"),
        ("admin: search by surname", admin, f"/admin/patients/patient/?q={surname}", surname),
        (
            "admin: search by first + last name",
            admin,
            f"/admin/patients/patient/?q={first_name}+{surname}",
            surname,
        ),
        ("admin: search by ID number", admin, f"/admin/patients/patient/?q={number}", "1 result"),
        (
            "admin: appointment changelist",
            admin,
            "/admin/appointments/appointment/",
            "Select appointment",
        ),
    ]
    for slug in ("small", "big"):
        clinic, user, patient = data["people"][slug]
        client = patient_client(user, patient, f"{slug}.{_stack.BASE_DOMAIN}")
        pages.append((f"home page, {slug} clinic", client, "/portal/", "Appointments"))

    from patients.models import Patient

    print(
        f"big clinic: {Patient.objects.filter(clinic__slug='big').count():,} patients, "
        f"{options.appointments:,} appointments; {options.runs} timed requests per page\n"
    )
    admin_pages = [p for p in pages if p[0].startswith("admin")]
    home_pages = [p for p in pages if p[0].startswith("home")]
    # Home pages on their own, alternating small and big, so that neither follows a
    # two-second admin search (which evicts what the next request would find cached).
    results = time_pages(home_pages, options, "home pages:")
    results.update(time_pages(admin_pages, options, "admin:"))
    ratio = (
        results["home page, big clinic"]["median"] / results["home page, small clinic"]["median"]
    )
    print(f"\nhome page, big clinic / small clinic: {ratio:.2f}x (aim: <= 1.2x)")
    worst = max(v["median"] for k, v in results.items() if k.startswith("admin"))
    print(f"slowest admin page (median): {worst:.0f} ms (aim: <= 100 ms)")
    print(f"data generation: {generation:.0f} s")


if __name__ == "__main__":
    main()
