"""Importing charts with a transaction Bundle: the new Patients are written a table at a
time (a fixed number of statements however many there are), still all or nothing, with
the same checks, history and audit as one POST."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from patients.models import Patient, PatientIdentifier
from portal.audit.models import AuditEvent
from tests.factories import PatientFactory, PatientIdentifierFactory
from tests.fhir.smart import get_token, register
from tests.fhir.test_api import Api, new_patient, parses

pytestmark = pytest.mark.django_db


@pytest.fixture
def ehr(clinic):
    return register(clinic)


@pytest.fixture
def api(frozen, ehr):
    return Api(get_token(Client(), ehr))


def transaction(*resources, method="POST"):
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
                "resource": resource,
                "request": {"method": method, "url": "Patient"},
            }
            for i, resource in enumerate(resources)
        ],
    }


def charts(count, first=0):
    return [new_patient(number=f"{7000000000 + first + i}", family=f"Im{i}") for i in range(count)]


def import_queries(api, resources):
    with CaptureQueriesContext(connection) as queries:
        response = api.post("", transaction(*resources))
    assert response.status_code == 200, response.content
    return len(queries)


def test_an_import_runs_the_same_statements_for_two_charts_as_for_twenty(api):
    few = import_queries(api, charts(2))
    # (Twenty: SQLite splits an insert of more than 999 parameters, about 30 charts.)
    many = import_queries(api, charts(20, first=100))

    assert many == few
    # Token, identifier systems, charts, their history, ID numbers, their history, the
    # charts' audit events, the transaction's, the transaction's own statements and the
    # savepoint of charts_create (atomic on its own).
    assert many <= 16
    assert Patient.objects.count() == 22


def test_each_imported_chart_has_its_number_history_and_audit_event_in_entry_order(api, ehr):
    response = api.post("", transaction(*charts(3)))

    answer = parses(response.json())
    locations = [e["response"]["location"] for e in answer["entry"]]
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 3
    made = [
        Patient.objects.get(pk=int(location.removeprefix("Patient/"))) for location in locations
    ]
    assert [p.last_name for p in made] == ["Im0", "Im1", "Im2"]
    assert [p.identifiers.get().number for p in made] == ["7000000000", "7000000001", "7000000002"]
    for patient in made:
        (record,) = patient.history.all()
        assert (record.history_type, record.history_user_id) == ("+", ehr.account.pk)
        (number_record,) = PatientIdentifier.history.filter(patient_id=patient.pk)
        assert number_record.history_user_id == ehr.account.pk
    events = AuditEvent.objects.filter(action="patient.created_by_api").order_by("id")
    assert [(e.acting_for, e.object_id, e.actor) for e in events] == [
        (p, str(p.pk), ehr.account) for p in made
    ]


def nothing_written(before_charts):
    assert Patient.objects.count() == before_charts
    assert Patient.history.filter(history_type="+").count() == before_charts
    assert not AuditEvent.objects.filter(
        action__in=["patient.created_by_api", "fhir.transaction"]
    ).exists()


def test_an_invalid_last_entry_writes_nothing(api):
    broken = new_patient(number="7999999999")
    del broken["birthDate"]

    response = api.post("", transaction(*charts(5), broken))

    assert response.status_code == 400
    assert "birthDate" in response.json()["issue"][0]["diagnostics"]
    nothing_written(0)
    assert not PatientIdentifier.objects.exists()


def test_two_new_charts_with_one_number_write_nothing(api):
    twins = [new_patient(number="7000000001", family=family) for family in ("One", "Two")]

    response = api.post("", transaction(*charts(3, first=10), *twins))

    assert response.status_code == 409
    nothing_written(0)


def test_a_number_another_chart_holds_writes_nothing(api, clinic):
    PatientIdentifierFactory(patient=PatientFactory(clinic=clinic), number="7000000002")

    response = api.post("", transaction(*charts(5)))

    assert response.status_code == 409
    nothing_written(1)


def test_one_number_given_twice_on_a_chart_is_kept_once(api):
    patient = new_patient(number="7000000005")
    patient["identifier"] *= 2

    response = api.post("Patient", patient)

    assert response.status_code == 201
    assert Patient.objects.get().identifiers.get().number == "7000000005"


def test_an_entry_the_token_may_not_write_is_refused_before_any_chart_is_made(clinic, frozen):
    reader = register(clinic, scopes="system/Patient.rs system/Appointment.cruds")
    api = Api(get_token(Client(), reader))
    bundle = transaction(*charts(2))

    response = api.post("", bundle)

    assert response.status_code == 403
    nothing_written(0)
