"""Refill requests as FHIR Tasks (kind ``rr``): the patient asks in the portal, the
record system finds the Task, reads it (its focus the MedicationRequest, the pharmacy
note as input) and decides it with a PUT through the services the admin uses; the
patient gets the clinic's message and a notice that says only that the clinic
answered."""

import pytest
from django.test import Client

from messaging.models import Message
from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from records.models import RefillRequest
from tests.clients import portal_client
from tests.factories import MedicationFactory, PatientAccessFactory, PatientFactory
from tests.fhir.smart import get_token, register
from tests.fhir.test_api import Api, parses
from tests.fhir.test_task import decided, refill_request

pytestmark = pytest.mark.django_db

ANSWER = {"system": "urn:portal:task-output", "code": "answer"}


@pytest.fixture
def ehr(clinic):
    return register(clinic)


@pytest.fixture
def api(frozen, ehr):
    return Api(get_token(Client(), ehr))


@pytest.fixture
def ada(clinic):
    return PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Ada", email="ada@example.org")
    )


@pytest.fixture
def statin(ada):
    return MedicationFactory(
        patient=ada.patient, display="Atorvastatin 20 mg tablet", status="active"
    )


def test_the_path_from_the_portal_to_the_record_system_and_back(api, ada, statin, ehr):
    # The patient asks in the portal.
    patient = portal_client(ada.user, ada.patient)
    asked = patient.post(
        f"/portal/health-record/medications/{statin.pk}/refill/",
        {"pharmacy_note": "Main Street Pharmacy"},
    )
    assert asked.status_code == 302
    made = RefillRequest.objects.get()

    # The record system finds it among the waiting refill requests, and reads it.
    bundle = parses(api.get("Task", code="refill-request", status="requested").json())
    assert [e["resource"]["id"] for e in bundle["entry"]] == [f"rr-{made.pk}"]
    read = api.get(f"Task/rr-{made.pk}")
    task = parses(read.json())
    assert read["ETag"] == 'W/"1"'
    assert task["status"] == "requested"
    assert task["code"]["coding"][0]["code"] == "refill-request"
    assert task["focus"] == {"reference": f"MedicationRequest/{statin.pk}"}
    assert task["for"] == {"reference": f"Patient/{ada.patient_id}"}
    assert task["requester"] == {"reference": f"Patient/{ada.patient_id}"}
    assert task["description"] == "Refill request: Atorvastatin 20 mg tablet"
    [note] = task["input"]
    assert note["type"]["coding"][0]["code"] == "pharmacy-note"
    assert note["valueString"] == "Main Street Pharmacy"
    # The focus is a MedicationRequest the record system can read.
    assert api.get(task["focus"]["reference"]).status_code == 200

    # It completes it, with an answer for the patient.
    done = decided(
        api,
        f"rr-{made.pk}",
        "completed",
        output=[{"type": {"coding": [ANSWER]}, "valueString": "Ready tomorrow at noon."}],
    )
    assert done.status_code == 200, done.content
    task = parses(done.json())
    assert (task["status"], task["meta"]["versionId"]) == ("completed", "2")
    assert task["output"][0]["valueString"] == "Ready tomorrow at noon."
    made.refresh_from_db()
    assert (made.status, made.decided_by, made.answer) == (
        "approved",
        ehr.account,
        "Ready tomorrow at noon.",
    )

    # The patient is told (the outbox), and reads the clinic's message.
    [notice] = Notification.objects.filter(template="refill_request_answered")
    assert notice.recipient == "ada@example.org"
    assert notice.context == {"refill_request_id": made.pk}
    message = Message.objects.get(thread__patient=ada.patient)
    inbox = patient.get("/portal/messages/").content.decode()
    assert message.thread.subject in inbox
    thread = patient.get(f"/portal/messages/{message.thread_id}/").content.decode()
    assert "The clinic answered your refill request." in thread
    assert "Atorvastatin" not in thread and "Ready tomorrow" not in thread
    medications = patient.get("/portal/health-record/medications/").content.decode()
    assert "Refill approved on" in medications and "Ready tomorrow at noon." in medications
    actions = set(AuditEvent.objects.filter(actor=ehr.account).values_list("action", flat=True))
    assert {"refill_request.approved", "fhir.update", "fhir.read", "fhir.search"} <= actions


def test_rejecting_declines_with_the_reason_the_patient_reads(api, ada, statin):
    made = refill_request(ada, statin)
    unexplained = decided(api, f"rr-{made.pk}", "rejected")
    assert unexplained.status_code == 422
    response = decided(
        api, f"rr-{made.pk}", "rejected", statusReason={"text": "Please book a review visit."}
    )
    assert response.status_code == 200, response.content
    task = parses(response.json())
    assert task["status"] == "rejected"
    assert task["statusReason"] == {"text": "Please book a review visit."}
    made.refresh_from_db()
    assert (made.status, made.answer) == ("declined", "Please book a review visit.")
    assert "The clinic answered your refill request." in Message.objects.get().body


def test_a_decision_is_made_once(api, ada, statin, front_desk):
    from records import services

    made = refill_request(ada, statin)
    services.refill_request_decline(refill_request=made, decided_by=front_desk, answer="No")
    current = api.get(f"Task/rr-{made.pk}").json()
    assert current["status"] == "rejected"
    again = api.put(f"Task/rr-{made.pk}", {**current, "status": "completed"})
    assert again.status_code == 409
    made.refresh_from_db()
    assert (made.status, made.decided_by) == ("declined", front_desk)
    assert Message.objects.count() == 1


def test_completing_takes_one_answer_output_at_most(api, ada, statin):
    made = refill_request(ada, statin)
    other = {"type": {"coding": [{"system": "urn:portal:task-output", "code": "start"}]}}
    response = decided(
        api, f"rr-{made.pk}", "completed", output=[{**other, "valueDateTime": "2030-01-16"}]
    )
    assert response.status_code in (400, 422)
    made.refresh_from_db()
    assert made.is_pending


def test_other_clinics_refill_requests_are_not_tasks(api, other_clinic):
    outsider = PatientAccessFactory(patient=PatientFactory(clinic=other_clinic))
    theirs = refill_request(outsider)
    assert api.get(f"Task/rr-{theirs.pk}").status_code == 404
    body = {"resourceType": "Task", "id": f"rr-{theirs.pk}", "status": "completed"}
    assert api.put(f"Task/rr-{theirs.pk}", body).status_code == 404
    assert api.get("Task").json()["entry"] == []
    theirs.refresh_from_db()
    assert theirs.is_pending
