"""The FHIR API on PostgreSQL at scale: ``Appointment?date=`` for one day of a large clinic,
and a 1,000-Patient transaction Bundle.

    .venv/bin/python bench/fhir_bench.py                                  # 1 M visits, ~3 min
    .venv/bin/python bench/fhir_bench.py --appointments 10000000 --patients 1000000   # the issue's

Needs PostgreSQL (``BENCH_PG``) and Redis (``BENCH_REDIS``; database 12 is flushed), like
``scale.py``, whose loader it uses: rows generated in PostgreSQL (200 providers, visits
every quarter hour round the clock, so one day holds 200 × 96 = 19,200 visits whatever
the total), plus one history row per visit (the API's ``meta.versionId``). Makes a fresh
``portal_bench_fhir`` database and drops it at the end (``--keep`` leaves it).

Timed in-process through Django's test client with the production settings and a SMART
client's bearer token: the first page (``_count=200``) of the busiest day, every page
of that day through the ``next`` links, one visit read by id, and a transaction Bundle of
1,000 new Patients (each with a health-card number), all or nothing.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
import uuid

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
            scale.IndexesRebuilt(cur, Appointment._meta.db_table, phases, exclusions=False),
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
    with phases("vacuum analyze"), connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    # The busiest day: every provider's visits cover it round the clock.
    day = (start + dt.timedelta(minutes=15 * per_provider // 2)).astimezone(clinic.tz).date()
    return clinic, day


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
    client = SmartClient.objects.filter(clinic=clinic).first() or smart_client_register(
        client=SmartClient(
            name="Bench EHR",
            jwks={"keys": [{**public, "kid": "k1"}]},
            scopes="system/Patient.cruds system/Appointment.cruds",
            requests_per_minute=1_000_000,
        ),
        clinic=clinic,
    )
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


def timed(label, runs, fn):
    fn()  # warm-up
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - began)
    seconds.sort()
    p90 = seconds[max(0, int(len(seconds) * 0.9) - 1)]
    print(f"  {label}: median {statistics.median(seconds) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()

    database_url = _stack.pg_database("portal_bench_fhir", keep=options.keep)
    redis_url = _stack.redis_database(12)
    static_root = _stack.scratch_dir("fhir-static")
    _stack.django_setup(
        _stack.production_env(
            database_url=database_url, redis_url=redis_url, static_root=static_root
        )
    )
    phases = scale.Phases()
    print(f"Building {options.appointments:,} visits and {options.patients:,} patients ...")
    clinic, day = build(options, phases)
    api = fresh_api(clinic)

    print(f"Appointment?date={day} ({scale.PROVIDERS * 96:,} visits that day)")

    def first_page():
        response = api().get("/fhir/R4/Appointment", {"date": day.isoformat(), "_count": 200})
        assert response.status_code == 200, response.content
        return response.json()

    bundle = timed("first page, _count=200", options.runs, first_page)
    assert len(bundle["entry"]) == 200

    def whole_day():
        url, seen = f"/fhir/R4/Appointment?date={day.isoformat()}&_count=200", 0
        while url:
            response = api().get(url)
            assert response.status_code == 200, response.content[:300]
            page = response.json()
            seen += len(page.get("entry", []))
            nexts = [link["url"] for link in page["link"] if link["relation"] == "next"]
            url = nexts[0].removeprefix(f"https://{HOST}") if nexts else None
        return seen

    seen = timed("the whole day, every page", 1, whole_day)
    print(f"    {seen:,} visits in {-(-seen // 200)} pages")
    visit_id = bundle["entry"][0]["resource"]["id"]
    timed("one visit by id", options.runs, lambda: api().get(f"/fhir/R4/Appointment/{visit_id}"))

    def import_bundle(offset=[0]):  # noqa: B006 - a counter across runs
        offset[0] += 1
        entries = [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [
                        {
                            "system": "urn:portal:big:id:health-card",
                            "value": f"{7000000000 + offset[0] * 10000 + i}",
                        }
                    ],
                    "name": [{"use": "official", "family": f"Import{i}", "given": ["Bench"]}],
                    "birthDate": "1980-01-01",
                    "gender": "unknown",
                },
                "request": {"method": "POST", "url": "Patient"},
            }
            for i in range(1000)
        ]
        response = api().post(
            "/fhir/R4/",
            json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
            content_type="application/fhir+json",
        )
        assert response.status_code == 200, response.content[:500]
        return response

    print("Transaction Bundle of 1,000 new Patients")
    timed("1,000 Patients, all or nothing", 2, import_bundle)


if __name__ == "__main__":
    main()
