"""The health record through the FHIR API: each resource created, read, updated and
searched; sent again by identifier, kept once; versions and If-Match; scopes per type;
clinic scoping; documents as PDFs in the attachments' storage; results released by the
clinic's rules and announced."""

import base64
import datetime as dt
import json
import re

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Medication,
    Observation,
    ReleaseRule,
)
from tests.factories import ObservationFactory, PatientFactory
from tests.fhir.smart import get_token, register
from tests.fhir.test_api import HOST, Api, parses

pytestmark = pytest.mark.django_db

RECORD_SCOPES = (
    "system/Observation.cruds system/DiagnosticReport.cruds system/MedicationRequest.cruds "
    "system/MedicationStatement.cruds system/AllergyIntolerance.cruds "
    "system/Immunization.cruds system/DocumentReference.cruds"
)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def ehr(clinic):
    return register(clinic, scopes=RECORD_SCOPES)


@pytest.fixture
def api(frozen, ehr):
    return Api(get_token(Client(), ehr, scope=RECORD_SCOPES))


@pytest.fixture
def chart(clinic):
    return PatientFactory(clinic=clinic, email="olivia@example.com", last_name="Martin")


def glucose(chart, **extra):
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:lab:results", "value": "G-1"}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]
        },
        "subject": {"reference": f"Patient/{chart.pk}"},
        "effectiveDateTime": "2030-01-14T08:30:00-05:00",
        "issued": "2030-01-14T15:00:00Z",
        "valueQuantity": {"value": 7.2, "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.9}, "high": {"value": 6.1}}],
        "interpretation": [{"coding": [{"code": "H"}]}],
        **extra,
    }


def panel(chart, results):
    return {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": "urn:lab:reports", "value": "P-1"}],
        "status": "final",
        "category": [{"coding": [{"code": "LAB"}]}],
        "code": {"text": "Metabolic panel"},
        "subject": {"reference": f"Patient/{chart.pk}"},
        "issued": "2030-01-14T15:00:00Z",
        "performer": [{"display": "City Lab"}],
        "result": [{"reference": f"Observation/{pk}"} for pk in results],
    }


def document(chart, data=PDF, **extra):
    return {
        "resourceType": "DocumentReference",
        "identifier": [{"system": "urn:ehr:docs", "value": "D-1"}],
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]},
        "subject": {"reference": f"Patient/{chart.pk}"},
        "date": "2030-01-14T15:00:00Z",
        "description": "Visit summary, January 14",
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "data": base64.b64encode(data).decode(),
                }
            }
        ],
        **extra,
    }


# --- Observation ----------------------------------------------------------------------------


def test_an_observation_is_created_read_and_searched(api, chart, ehr):
    created = api.post("Observation", glucose(chart))

    assert created.status_code == 201, created.content
    data = parses(created.json())
    row = Observation.objects.get()
    assert created["Location"].endswith(
        f"/Observation/{row.pk}/_history/{data['meta']['versionId']}"
    )
    assert created["ETag"] == f'W/"{data["meta"]["versionId"]}"'
    assert (row.code, row.display, row.category, row.interpretation) == (
        "2345-7",
        "Glucose",
        "laboratory",
        "H",
    )
    assert (float(row.value_quantity), row.value_unit, float(row.range_high)) == (
        7.2,
        "mmol/L",
        6.1,
    )
    assert data["valueQuantity"] == {"value": 7.2, "unit": "mmol/L"}

    read = parses(api.get(f"Observation/{row.pk}").json())
    assert read["subject"] == {"reference": f"Patient/{chart.pk}"}
    found = api.get("Observation", patient=str(chart.pk), code="http://loinc.org|2345-7").json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(row.pk)]
    assert api.get("Observation", category="vital-signs").json().get("entry", []) == []
    assert api.get("Observation", date="ge2030-01-14").json()["entry"]


def test_sending_an_observation_again_by_identifier_updates_the_same_row(api, chart):
    first = api.post("Observation", glucose(chart)).json()
    again = api.post("Observation", glucose(chart, valueQuantity={"value": 5.0, "unit": "mmol/L"}))

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert Observation.objects.count() == 1
    assert int(again.json()["meta"]["versionId"]) > int(first["meta"]["versionId"])


def test_an_update_needs_the_current_version_when_it_names_one(api, chart):
    created = api.post("Observation", glucose(chart))
    pk, stale = created.json()["id"], created["ETag"]
    body = {**glucose(chart, status="amended"), "id": pk}

    assert api.put(f"Observation/{pk}", body).status_code == 200
    refused = api.put(f"Observation/{pk}", body, **{"If-Match": stale})

    assert refused.status_code == 412
    assert parses(refused.json())["resourceType"] == "OperationOutcome"
    assert Observation.objects.get().status == "amended"


def test_a_resource_for_a_chart_of_another_clinic_is_refused(api, other_clinic):
    outsider = PatientFactory(clinic=other_clinic)

    response = api.post("Observation", glucose(outsider))

    assert response.status_code == 400
    assert not Observation.objects.exists()


def test_another_clinics_rows_are_not_found(api, other_clinic):
    row = ObservationFactory(patient=PatientFactory(clinic=other_clinic))

    assert api.get(f"Observation/{row.pk}").status_code == 404
    assert api.get("Observation").json().get("entry", []) == []


def test_invalid_resources_are_answered_with_an_operation_outcome(api, chart):
    for body in (
        {"resourceType": "Observation", "status": "final"},  # no code
        glucose(chart, subject={"reference": "Group/1"}),
        glucose(chart, status="unheard-of"),
        {"resourceType": "Patient"},
    ):
        response = api.post("Observation", body)
        assert response.status_code == 400, body
        assert parses(response.json())["resourceType"] == "OperationOutcome"
    assert not Observation.objects.exists()


def test_a_token_without_the_types_scope_is_refused(frozen, clinic, chart):
    ehr = register(clinic, scopes="system/Observation.rs", name="reader")
    api = Api(get_token(Client(), ehr, scope="system/Observation.rs", key_name="reader"))

    assert api.post("Observation", glucose(chart)).status_code == 403
    assert api.post("DiagnosticReport", panel(chart, [])).status_code == 403
    assert api.get("Immunization").status_code == 403
    assert api.get("Observation").status_code == 200


def test_every_call_is_audited_with_the_client_as_actor(api, ehr, chart):
    pk = api.post("Observation", glucose(chart)).json()["id"]
    api.get(f"Observation/{pk}")
    api.get("Observation")

    events = AuditEvent.objects.exclude(action="fhir.token_issued").order_by("id")
    assert [e.action for e in events] == ["record.received", "fhir.read", "fhir.search"]
    assert {e.actor for e in events} == {ehr.account}
    assert events[0].acting_for == chart and events[1].acting_for == chart


# --- DiagnosticReport and release -------------------------------------------------------------


def test_a_report_groups_its_results_and_is_released_by_the_clinics_rule(
    api, chart, clinic, django_capture_on_commit_callbacks
):
    ReleaseRule.objects.create(clinic=clinic, category="lab", mode=ReleaseRule.Mode.AT_ONCE)
    observation = api.post("Observation", glucose(chart)).json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("DiagnosticReport", panel(chart, [observation]))

    assert response.status_code == 201, response.content
    data = parses(response.json())
    assert data["result"] == [{"reference": f"Observation/{observation}"}]
    report = DiagnosticReport.objects.get()
    assert report.category == "lab" and report.release_at is not None
    assert list(report.observations.values_list("pk", flat=True)) == [int(observation)]
    notice = Notification.objects.get(template="result_available")
    assert notice.context == {"patient_id": chart.pk}


def test_a_report_waits_for_review_and_the_review_arrives_as_an_extension(api, chart, clinic):
    ReleaseRule.objects.create(clinic=clinic, category="lab", mode=ReleaseRule.Mode.AFTER_REVIEW)
    created = api.post("DiagnosticReport", panel(chart, [])).json()
    assert DiagnosticReport.objects.get().release_at is None

    reviewed = {
        **panel(chart, []),
        "id": created["id"],
        "extension": [
            {"url": "urn:portal:fhir:reviewed-at", "valueDateTime": "2030-01-15T13:00:00Z"},
            {"url": "urn:portal:fhir:reviewed-by", "valueString": "Dr Ada Lovelace"},
        ],
    }
    response = api.put(f"DiagnosticReport/{created['id']}", reviewed)

    assert response.status_code == 200, response.content
    report = DiagnosticReport.objects.get()
    assert report.reviewed_by == "Dr Ada Lovelace"
    assert report.release_at == dt.datetime(2030, 1, 15, 13, 0, tzinfo=dt.UTC)
    assert Notification.objects.filter(template="result_available").count() == 1


def test_a_report_may_not_list_another_charts_results(api, chart, clinic):
    other = ObservationFactory(patient=PatientFactory(clinic=clinic))

    response = api.post("DiagnosticReport", panel(chart, [other.pk]))

    assert response.status_code == 400
    assert not DiagnosticReport.objects.exists()
    assert Observation.objects.get().report is None


# --- Medications, allergies, immunizations -------------------------------------------------------


def test_prescriptions_and_medications_taken_are_kept_apart(api, chart):
    request = api.post(
        "MedicationRequest",
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}
                ],
                "text": "Metformin 500 mg tablet",
            },
            "subject": {"reference": f"Patient/{chart.pk}"},
            "authoredOn": "2030-01-02",
            "requester": {"display": "Dr Ada Lovelace"},
            "dosageInstruction": [{"text": "1 tablet twice a day"}],
            "dispenseRequest": {"numberOfRepeatsAllowed": 3},
        },
    )
    statement = api.post(
        "MedicationStatement",
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": "Vitamin D 1000 IU"},
            "subject": {"reference": f"Patient/{chart.pk}"},
            "effectivePeriod": {"start": "2029-06-01"},
            "dosage": [{"text": "daily"}],
        },
    )

    assert request.status_code == 201, request.content
    assert statement.status_code == 201, statement.content
    parses(request.json()), parses(statement.json())
    prescription = Medication.objects.get(kind="request")
    assert (prescription.refills_allowed, prescription.prescriber) == (3, "Dr Ada Lovelace")
    assert api.get(f"MedicationStatement/{prescription.pk}").status_code == 404
    assert [e["resource"]["id"] for e in api.get("MedicationRequest").json()["entry"]] == [
        str(prescription.pk)
    ]


def test_allergies_and_immunizations_are_kept(api, chart):
    allergy = api.post(
        "AllergyIntolerance",
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "criticality": "high",
            "code": {"text": "Penicillin"},
            "patient": {"reference": f"Patient/{chart.pk}"},
            "recordedDate": "2020-03-01",
            "reaction": [{"manifestation": [{"text": "Hives"}], "description": "within an hour"}],
        },
    )
    shot = api.post(
        "Immunization",
        {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {
                "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "158"}],
                "text": "Influenza vaccine",
            },
            "patient": {"reference": f"Patient/{chart.pk}"},
            "occurrenceDateTime": "2029-10-12",
            "lotNumber": "AB123",
            "site": {"text": "Left arm"},
        },
    )

    assert allergy.status_code == 201, allergy.content
    assert shot.status_code == 201, shot.content
    parses(allergy.json()), parses(shot.json())
    kept = AllergyIntolerance.objects.get()
    assert (kept.display, kept.criticality, kept.reactions) == (
        "Penicillin",
        "high",
        "Hives; within an hour",
    )
    assert api.get("AllergyIntolerance", **{"clinical-status": "active"}).json()["entry"]
    assert api.get("Immunization", patient=f"Patient/{chart.pk}").json()["entry"]


# --- DocumentReference -----------------------------------------------------------------------


def test_a_document_is_stored_as_a_pdf_under_a_name_nobody_can_guess(api, chart, clinic):
    response = api.post("DocumentReference", document(chart))

    assert response.status_code == 201, response.content
    data = parses(response.json())
    assert "data" not in data["content"][0]["attachment"]
    assert data["content"][0]["attachment"]["size"] == len(PDF)
    row = Document.objects.get()
    assert row.kind == Document.Kind.VISIT_SUMMARY
    # The clinic's folder, then 128 random bits: nothing of the chart, the title or the type.
    assert re.fullmatch(rf"{clinic.pk}/[0-9a-f]{{32}}", row.file.name), row.file.name
    with row.file.open("rb") as stored:
        assert stored.read() == PDF


def test_a_document_that_is_not_a_pdf_is_refused(api, chart):
    for body in (
        document(chart, data=b"\x89PNG\r\n\x1a\n not a pdf"),
        document(chart, data=PDF) | {"content": [{"attachment": {"contentType": "text/html"}}]},
        document(chart, data=PDF)
        | {"content": [{"attachment": {"contentType": "application/pdf", "url": "http://x/y"}}]},
    ):
        response = api.post("DocumentReference", body)
        assert response.status_code == 400, response.content
    assert not Document.objects.exists()


def test_a_document_over_the_size_limit_is_refused(api, chart, settings):
    settings.PORTAL_RECORD_DOCUMENT_MAX_MB = 1
    just_over = PDF + b"0" * (1024 * 1024)
    far_over = PDF + b"0" * (2 * 1024 * 1024)

    assert api.post("DocumentReference", document(chart, data=just_over)).status_code == 400
    refused = api.post("DocumentReference", document(chart, data=far_over))

    assert refused.status_code == 413
    assert parses(refused.json())["resourceType"] == "OperationOutcome"
    assert not Document.objects.exists()


def test_a_document_update_without_content_keeps_its_file(api, chart):
    created = api.post("DocumentReference", document(chart)).json()
    name = Document.objects.get().file.name
    body = {**document(chart), "id": created["id"], "status": "superseded"}
    body["content"] = [{"attachment": {"contentType": "application/pdf"}}]

    response = api.put(f"DocumentReference/{created['id']}", body)

    assert response.status_code == 200, response.content
    row = Document.objects.get()
    assert (row.status, row.file.name) == ("superseded", name)


# --- Discovery --------------------------------------------------------------------------------


def test_the_capability_statement_and_smart_configuration_name_the_record(clinic):
    statement = Client().get("/fhir/R4/metadata", HTTP_HOST=HOST).json()
    served = {r["type"]: r for r in statement["rest"][0]["resource"]}
    config = Client().get("/fhir/R4/.well-known/smart-configuration", HTTP_HOST=HOST).json()

    for resource in ("Observation", "DiagnosticReport", "DocumentReference", "Immunization"):
        assert [i["code"] for i in served[resource]["interaction"]] == [
            "read",
            "search-type",
            "create",
            "update",
        ]
        assert served[resource]["versioning"] == "versioned-update"
        assert f"system/{resource}.cruds" in config["scopes_supported"]


def test_an_unknown_search_parameter_is_refused(api):
    response = api.get("Observation", subject="Patient/1")

    assert response.status_code == 400
    assert json.loads(response.content)["resourceType"] == "OperationOutcome"
