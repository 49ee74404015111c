"""The API under hostile or unlucky use: concurrent writers with one version, oversized
transactions, identifiers in another format, malformed input (400, never 500), long
assertion ids, and tokens whose client was narrowed or switched off."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from appointments.models import Appointment
from fhir_api import services, views
from fhir_api.models import SmartClient, UsedAssertion
from patients.models import Patient
from tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    PatientFactory,
    PatientIdentifierFactory,
    ProviderFactory,
)
from tests.fhir.smart import assertion, get_token, register, token_form, token_url
from tests.fhir.test_api import Api, new_patient

HOST = "demo.localhost"


def _chart(clinic, number="1234567890"):
    return PatientIdentifierFactory(
        patient=PatientFactory(clinic=clinic, first_name="Olivia", last_name="Martin"),
        number=number,
    ).patient


# --- One version, one writer -----------------------------------------------------------


@pytest.mark.django_db
def test_a_put_with_a_stale_etag_is_refused_and_changes_nothing(frozen, clinic):
    api = Api(get_token(Client(), register(clinic)))
    chart = _chart(clinic)
    current = api.get(f"Patient/{chart.pk}")
    body = current.json()
    first = api.put(
        f"Patient/{chart.pk}",
        {**body, "name": [{**body["name"][0], "family": "Roy"}]},
        **{"If-Match": current["ETag"]},
    )
    second = api.put(
        f"Patient/{chart.pk}",
        {**body, "name": [{**body["name"][0], "family": "Gagnon"}]},
        **{"If-Match": current["ETag"]},
    )

    assert first.status_code == 200
    assert second.status_code == 412
    assert second.json()["resourceType"] == "OperationOutcome"
    chart.refresh_from_db()
    assert chart.last_name == "Roy"


@pytest.mark.django_db
def test_a_status_change_another_writer_beat_is_a_conflict_not_a_success(clinic):
    visit = AppointmentFactory(patient=PatientFactory(clinic=clinic), clinic=clinic)
    stale = Appointment.objects.get(pk=visit.pk)
    Appointment.objects.filter(pk=visit.pk).update(status=Appointment.Status.NO_SHOW)
    data = {
        "resourceType": "Appointment",
        "status": "fulfilled",
        "serviceType": [
            {
                "coding": [
                    {
                        "system": "urn:portal:appointment-type",
                        "code": str(stale.appointment_type_id),
                    }
                ]
            }
        ],
        "start": stale.start.isoformat(),
        "end": stale.end.isoformat() if getattr(stale, "end", None) else None,
        "participant": [
            {"actor": {"reference": f"Patient/{stale.patient_id}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{stale.provider_id}"}, "status": "accepted"},
        ],
    }
    data = {k: v for k, v in data.items() if v is not None}

    with pytest.raises(services.Conflict):
        services.appointment_update_from_fhir(
            clinic=clinic, appointment=stale, data=data, actor=None
        )
    assert Appointment.objects.get(pk=visit.pk).status == Appointment.Status.NO_SHOW


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_puts_with_the_same_etag_one_applies_and_one_is_refused(clinic, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs real row locks across connections; this run uses " + connection.vendor)
    token = get_token(Client(), register(clinic))
    chart = _chart(clinic)
    current = Api(token).get(f"Patient/{chart.pk}")
    body, version = current.json(), current["ETag"]

    checked = views._check_if_match

    def slow_check(request, data):
        checked(request, data)
        time.sleep(0.5)  # both writers would pass the check before either writes

    monkeypatch.setattr(views, "_check_if_match", slow_check)
    barrier = threading.Barrier(2)
    statuses, errors = [], []

    def put(family):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            answer = Api(token).put(
                f"Patient/{chart.pk}",
                {**body, "name": [{**body["name"][0], "family": family}]},
                **{"If-Match": version},
            )
            statuses.append(answer.status_code)
        except Exception as exc:  # noqa: BLE001 - any error is the failure we look for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=put, args=(f,)) for f in ("Roy", "Gagnon")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(statuses) == [200, 412]


# --- Transactions of bounded size ------------------------------------------------------


@pytest.fixture
def api(frozen, clinic):
    return Api(get_token(Client(), register(clinic)))


def _import(count):
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": new_patient(number=f"55500{i:05d}", family=f"Import{i}"),
                "request": {"method": "POST", "url": "Patient"},
            }
            for i in range(count)
        ],
    }


@pytest.mark.django_db
def test_a_transaction_of_too_many_entries_is_refused_before_any_write(api, monkeypatch):
    monkeypatch.setattr(views, "MAX_TRANSACTION_ENTRIES", 2)

    refused = api.post("", _import(3))
    accepted = api.post("", _import(2))

    assert refused.status_code == 413
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert "too many entries" in refused.json()["issue"][0]["diagnostics"]
    assert accepted.status_code == 200, accepted.content
    assert Patient.objects.filter(last_name__startswith="Import").count() == 2


@pytest.mark.django_db
def test_the_transaction_cap_is_a_thousand_entries_and_the_capability_statement_says_so(clinic):
    statement = Client().get("/fhir/R4/metadata", HTTP_HOST=HOST).json()

    assert views.MAX_TRANSACTION_ENTRIES == 1000
    documentation = statement["rest"][0]["interaction"][0]["documentation"]
    assert "1000 entries" in documentation


# --- A chart's own identifiers, in any format ------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["brk1", "BRK 1", "brk-1"])
def test_putting_a_chart_with_its_own_identifier_in_another_format_twice_succeeds(
    api, clinic, sent
):
    chart = _chart(clinic, number="BRK1")
    body = api.get(f"Patient/{chart.pk}").json()
    body["identifier"][0]["value"] = sent

    first = api.put(f"Patient/{chart.pk}", body)
    second = api.put(f"Patient/{chart.pk}", body)

    assert first.status_code == 200, first.content
    assert second.status_code == 200, second.content
    assert list(chart.identifiers.values_list("number", flat=True)) == ["BRK1"]


@pytest.mark.django_db
def test_a_spaced_identifier_is_kept_once_across_identical_puts(api):
    created = api.post("Patient", new_patient(number="9999 999 999"))
    body = created.json()

    first = api.put(
        f"Patient/{body['id']}", {**new_patient(number="9999 999 999"), "id": body["id"]}
    )
    second = api.put(
        f"Patient/{body['id']}", {**new_patient(number="9999 999 999"), "id": body["id"]}
    )

    assert created.status_code == 201, created.content
    assert (first.status_code, second.status_code) == (200, 200), second.content
    assert second.json()["identifier"][0]["value"] == "9999999999"


# --- Malformed input is a 400 OperationOutcome, never a 500 ----------------------------


@pytest.fixture
def doctor(clinic):
    kind = AppointmentTypeFactory(clinic=clinic, duration_minutes=30)
    return ProviderFactory(
        clinic=clinic, appointment_types=[kind], weekly_hours=(dt.time(9), dt.time(17))
    )


def _visit(chart, doctor, **changes):
    kind = doctor.appointment_types.get()
    data = {
        "resourceType": "Appointment",
        "status": "booked",
        "serviceType": [
            {"coding": [{"system": "urn:portal:appointment-type", "code": str(kind.pk)}]}
        ],
        "start": "2030-01-16T10:00:00-05:00",
        "participant": [
            {"actor": {"reference": f"Patient/{chart.pk}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{doctor.pk}"}, "status": "accepted"},
        ],
    }
    return {**data, **changes}


def _bundle_to(url):
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": new_patient(), "request": {"method": "PUT", "url": url}}],
    }


MALFORMED = {
    "a negative _count": lambda api, chart, doctor: api.get("Patient", _count="-1"),
    "a birthdate not in the calendar": lambda api, chart, doctor: api.get(
        "Patient", birthdate="2026-02-30"
    ),
    "an appointment date not in the calendar": lambda api, chart, doctor: api.get(
        "Appointment", date="2026-02-30"
    ),
    "a NUL in a name": lambda api, chart, doctor: api.get("Patient", name="Mar\x00tin"),
    "a NUL in an identifier": lambda api, chart, doctor: api.get("Patient", identifier="12\x0034"),
    "a transaction entry of a non-numeric id": lambda api, chart, doctor: api.post(
        "", _bundle_to("Patient/abc")
    ),
    "a transaction entry of a version url": lambda api, chart, doctor: api.post(
        "", _bundle_to(f"Patient/{chart.pk}/_history/1")
    ),
    "a reason longer than the portal keeps": lambda api, chart, doctor: api.post(
        "Appointment", _visit(chart, doctor, reasonCode=[{"text": "x" * 501}])
    ),
    "a start at the end of time": lambda api, chart, doctor: api.post(
        "Appointment", _visit(chart, doctor, start="9999-12-31T23:59:00Z")
    ),
    "a body nested too deeply": lambda api, chart, doctor: api.http.post(
        "/fhir/R4/Patient",
        "[" * 100_000 + "]" * 100_000,
        content_type="application/fhir+json",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_is_refused_with_a_400_outcome(api, clinic, doctor, case):
    chart = _chart(clinic)

    response = MALFORMED[case](api, chart, doctor)

    assert response.status_code == 400, response.content[:500]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not Appointment.objects.exists()
    assert Patient.objects.count() == 1


# --- Client assertions and tokens -----------------------------------------------------


@pytest.mark.django_db
def test_an_assertion_with_an_overlong_jti_is_refused_not_a_server_error(frozen, clinic):
    ehr = register(clinic)
    signed = assertion(ehr, aud=token_url(HOST), jti="j" * 256)

    response = Client().post("/fhir/R4/auth/token", token_form(signed), HTTP_HOST=HOST)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert not UsedAssertion.objects.exists()


@pytest.mark.django_db
def test_a_token_loses_the_scopes_its_client_no_longer_has(frozen, clinic):
    ehr = register(clinic)
    api = Api(get_token(Client(), ehr))
    chart = _chart(clinic)
    assert api.get(f"Patient/{chart.pk}").status_code == 200

    # Narrowed without a save (a data migration, a bulk update): the token follows.
    SmartClient.objects.filter(pk=ehr.pk).update(scopes="system/Practitioner.rs")

    assert api.get(f"Patient/{chart.pk}").status_code == 403
    assert api.get("Practitioner").status_code == 200


@pytest.mark.django_db
def test_narrowing_a_clients_scopes_ends_its_tokens(frozen, clinic):
    ehr = register(clinic)
    api = Api(get_token(Client(), ehr))
    ehr.scopes = "system/Patient.rs"
    ehr.save()

    assert api.get("Patient").status_code == 401


@pytest.mark.django_db
def test_a_deactivated_then_reactivated_client_does_not_revive_its_old_tokens(frozen, clinic):
    ehr = register(clinic)
    old = Api(get_token(Client(), ehr))
    assert old.get("Patient").status_code == 200

    ehr.is_active = False
    ehr.save()
    ehr.is_active = True
    ehr.save()

    assert old.get("Patient").status_code == 401
    assert Api(get_token(Client(), ehr)).get("Patient").status_code == 200


@pytest.mark.django_db
def test_saving_a_client_unchanged_keeps_its_tokens(frozen, clinic):
    ehr = register(clinic)
    api = Api(get_token(Client(), ehr))
    ehr.name = "EHR renamed"
    ehr.save()

    assert api.get("Patient").status_code == 200
