"""The patient's copy of their record (right of access): the FHIR Bundle downloaded from
the Account page and the printable summary, for the patient and for representatives by
their grant's scopes; audited; a fixed number of queries however long the chart."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from patients import demographics
from patients.models import PatientAccess
from portal.audit.models import AuditEvent
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
)
from tests.clients import host_client, portal_client
from tests.factories import (
    AllergyFactory,
    AppointmentFactory,
    AppointmentRequestFactory,
    AppointmentTypeFactory,
    AttachmentFactory,
    DiagnosticReportFactory,
    DocumentFactory,
    ImmunizationFactory,
    MedicationFactory,
    MessageFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientFactory,
    PatientIdentifierFactory,
    ProviderFactory,
    ThreadFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DOWNLOAD = "/portal/account/record/download/"
SUMMARY = "/portal/account/record/"

# What the patient's own chart holds, one string per area; none occurs anywhere else.
OWN = {
    "appointments": ("Quince consult", "Dr Ottoline Pardew", "Knee twinge"),
    "appointment_requests": ("Mornings near the bakery",),
    "messages": ("Your iron is fine", "Ferritin letter", "ferritin.pdf"),
    "change_requests": ("Gooseberry Falls",),
    "details": ("12 Elderflower Lane",),
    "representatives": ("Rowena Carewell",),
    "results": ("Iron studies panel", "Ferritin level", "Lone glucose"),
    "medications": ("Glimmerzine 20 mg",),
    "allergies": ("Moonpetal pollen",),
    "immunizations": ("Quasarvax booster",),
    "documents": ("Nimbus visit summary",),
}
HEALTH_RECORD_AREAS = ("results", "medications", "allergies", "immunizations", "documents")
# A result the clinic has not released to the patient (waiting for review): in no copy.
UNRELEASED = "Unreleased biopsy"
# Another patient of the same clinic, and a patient of another clinic.
COLLEAGUE = ("Colleague visit", "Colleague's letter", "Colleague note")
OUTSIDER = ("Outsider visit", "Outsider's letter")


def _chart(clinic, *, kind, provider, first_name, address, reason, subject, body, note, days=7):
    grant = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name=first_name, address_line1=address)
    )
    patient = grant.patient
    PatientIdentifierFactory(patient=patient)
    start = timezone.now().replace(microsecond=0) + dt.timedelta(days=days)
    AppointmentFactory(
        patient=patient, provider=provider, appointment_type=kind, reason=reason, start=start
    )
    thread = ThreadFactory(patient=patient, subject=subject)
    MessageFactory(thread=thread, body=body)
    AppointmentRequestFactory(patient=patient, appointment_type=kind, note=note)
    return grant


@pytest.fixture
def own(clinic, frozen):
    """Olivia's chart with a row in every area, and Rowena, her carer (all scopes)."""
    kind = AppointmentTypeFactory(clinic=clinic, name="Quince consult")
    provider = ProviderFactory(clinic=clinic, name="Dr Ottoline Pardew", appointment_types=[kind])
    grant = _chart(
        clinic,
        kind=kind,
        provider=provider,
        first_name="Olivia",
        address="12 Elderflower Lane",
        reason="Knee twinge",
        subject="Ferritin letter",
        body="Your iron is fine",
        note="Mornings near the bakery",
    )
    message = grant.patient.message_threads.get().messages.get()
    AttachmentFactory(message=message, original_name="ferritin.pdf")
    demographics.change_request_create(
        request=None,
        patient=grant.patient,
        requested_by=grant.user,
        proposed={"city": "Gooseberry Falls"},
    )
    PatientAccessFactory(
        patient=grant.patient,
        user=UserFactory(clinic=clinic, first_name="Rowena", last_name="Carewell"),
        relationship=PatientAccess.Relationship.CARER,
    )
    _health_record(grant.patient)
    return grant


def _health_record(patient):
    """One row of each kind of the health record, and a result not released yet."""
    report = DiagnosticReportFactory(patient=patient, display="Iron studies panel")
    ObservationFactory(patient=patient, report=report, display="Ferritin level")
    ObservationFactory(patient=patient, display="Lone glucose", code="2339-0")
    hidden = DiagnosticReportFactory(patient=patient, display=UNRELEASED, release_at=None)
    ObservationFactory(patient=patient, report=hidden, display=UNRELEASED + " margin")
    ObservationFactory(patient=patient, display=UNRELEASED + " alone", release_at=None)
    MedicationFactory(patient=patient, display="Glimmerzine 20 mg")
    AllergyFactory(patient=patient, display="Moonpetal pollen")
    ImmunizationFactory(patient=patient, display="Quasarvax booster")
    DocumentFactory(patient=patient, title="Nimbus visit summary")


@pytest.fixture
def others(clinic, other_clinic, own):
    """A colleague's chart at the same clinic and an outsider's at another clinic."""
    kind = own.patient.appointments.get().appointment_type
    provider = own.patient.appointments.get().provider
    colleague = _chart(
        clinic,
        kind=kind,
        provider=provider,
        first_name="Colin",
        address="1 Other Road",
        reason="Colleague visit",
        subject="Colleague's letter",
        body="Colleague's letter body",
        note="Colleague note",
        days=8,  # the same provider, another time (no overlap on PostgreSQL either)
    )
    outsider_kind = AppointmentTypeFactory(clinic=other_clinic, name="Outsider visit")
    outsider = _chart(
        other_clinic,
        kind=outsider_kind,
        provider=ProviderFactory(clinic=other_clinic, appointment_types=[outsider_kind]),
        first_name="Otto",
        address="2 Far Away",
        reason="Outsider visit",
        subject="Outsider's letter",
        body="Outsider's letter body",
        note="Outsider note",
    )
    return colleague, outsider


def representative(grant, **scopes):
    """A carer acting for ``grant``'s patient with the scopes given (others off)."""
    access = PatientAccessFactory(
        patient=grant.patient,
        user=UserFactory(clinic=grant.clinic),
        relationship=PatientAccess.Relationship.CARER,
        **{f"can_{scope}": scopes.get(scope, False) for scope in PatientAccess.SCOPES},
    )
    return portal_client(access.user, grant.patient)


def bundle_of(response) -> dict:
    data = json.loads(response.content)
    Bundle.model_validate(data)  # the whole Bundle is valid FHIR R4 (R4B models)
    return data


def resources(data, resource_type):
    return [
        entry["resource"]
        for entry in data.get("entry", [])
        if entry["resource"]["resourceType"] == resource_type
    ]


def shown(response, area) -> list[str]:
    text = response.content.decode()
    return [marker for marker in OWN[area] if marker in text]


# --- The patient's own copy ------------------------------------------------------------


def test_the_patient_downloads_a_fhir_bundle_of_their_own_chart(own, others):
    response = portal_client(own.user, own.patient).get(DOWNLOAD)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json; charset=utf-8"
    day = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="record-{day}.json"'
    assert "no-store" in response["Cache-Control"]
    data = bundle_of(response)
    assert data["type"] == "collection"
    (patient,) = resources(data, "Patient")
    assert patient["id"] == str(own.patient.pk)
    assert patient["address"][0]["line"] == ["12 Elderflower Lane"]
    assert [a["id"] for a in resources(data, "Appointment")] == [
        str(own.patient.appointments.get().pk)
    ]
    (communication,) = resources(data, "Communication")
    assert communication["payload"][0]["contentString"] == "Your iron is fine"
    assert communication["payload"][1]["contentAttachment"]["title"] == "ferritin.pdf"
    assert sorted(t["code"]["coding"][0]["code"] for t in resources(data, "Task")) == [
        "appointment-request",
        "change-request",
    ]
    (carer,) = resources(data, "RelatedPerson")
    assert carer["name"][0]["family"] == "Carewell"
    (report,) = resources(data, "DiagnosticReport")
    assert report["code"]["text"] == "Iron studies panel"
    observations = {o["code"]["text"]: o for o in resources(data, "Observation")}
    assert sorted(observations) == ["Ferritin level", "Lone glucose"]
    assert report["result"] == [
        {"reference": f"Observation/{observations['Ferritin level']['id']}"}
    ]
    assert [
        m["medicationCodeableConcept"]["text"] for m in resources(data, "MedicationRequest")
    ] == ["Glimmerzine 20 mg"]
    assert [a["code"]["text"] for a in resources(data, "AllergyIntolerance")] == [
        "Moonpetal pollen"
    ]
    assert [i["vaccineCode"]["text"] for i in resources(data, "Immunization")] == [
        "Quasarvax booster"
    ]
    (document,) = resources(data, "DocumentReference")
    assert document["description"] == "Nimbus visit summary"
    assert "data" not in document["content"][0]["attachment"]  # named, never the file
    assert UNRELEASED not in response.content.decode()
    assert carer["patient"]["reference"] == f"Patient/{own.patient.pk}"
    for entry in data["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == (
            f"http://demo.localhost/fhir/R4/{resource['resourceType']}/{resource['id']}"
        )
    text = response.content.decode()
    for marker in COLLEAGUE + OUTSIDER + ("1 Other Road", "2 Far Away"):
        assert marker not in text


def test_the_patients_summary_shows_every_area_of_their_chart_and_nobody_elses(own, others):
    response = portal_client(own.user, own.patient).get(SUMMARY)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    for area, markers in OWN.items():
        assert shown(response, area) == list(markers), area
    text = response.content.decode()
    assert UNRELEASED not in text
    for marker in COLLEAGUE + OUTSIDER:
        assert marker not in text
    main = text.split('<main id="main"')[1].split("</main>")[0]
    assert "<script" not in main  # nothing to run to read or print


def test_the_account_page_offers_the_copy(own):
    page = portal_client(own.user, own.patient).get("/portal/account/").content.decode()
    assert f'href="{DOWNLOAD}" download' in page
    assert f'href="{SUMMARY}"' in page


def test_signed_out_the_copy_asks_to_sign_in(own):
    for url in (DOWNLOAD, SUMMARY):
        response = host_client("demo").get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/portal/?next={url.replace('/', '%2F')}"


def test_a_post_is_refused(own):
    client = portal_client(own.user, own.patient)
    assert client.post(DOWNLOAD).status_code == 405
    assert client.post(SUMMARY).status_code == 405


# --- Representatives: what their scopes cover ------------------------------------------


def test_a_representative_without_the_messages_scope_gets_no_messages(own):
    client = representative(own, appointments=True, demographics=True)

    data = bundle_of(client.get(DOWNLOAD))
    assert "Your iron is fine" not in json.dumps(data)
    assert {e["resource"]["resourceType"] for e in data["entry"]} == {
        "Patient",
        "Appointment",
        "Task",
    }
    summary = client.get(SUMMARY)
    assert shown(summary, "messages") == []
    assert shown(summary, "appointments") and shown(summary, "change_requests")


def test_a_representative_gets_only_the_areas_of_their_scopes(own):
    client = representative(own, appointments=True)

    data = bundle_of(client.get(DOWNLOAD))
    assert resources(data, "Patient") == []  # the chart's details are the demographics scope
    assert len(resources(data, "Appointment")) == 1
    assert "12 Elderflower Lane" not in json.dumps(data)
    summary = client.get(SUMMARY)
    assert shown(summary, "appointments") and shown(summary, "appointment_requests")
    for area in ("messages", "change_requests", "details"):
        assert shown(summary, area) == [], area


def test_who_else_acts_for_the_patient_is_the_patients_own_to_see(own):
    client = representative(own, appointments=True, messages=True, demographics=True)

    summary = client.get(SUMMARY)
    assert shown(summary, "messages") and shown(summary, "details")
    assert shown(summary, "representatives") == []


def test_a_representative_with_no_scope_has_no_copy_and_no_link(own):
    client = representative(own)

    for url in (DOWNLOAD, SUMMARY):
        response = client.get(url)
        assert response.status_code == 403
        assert "Not part of your access" in response.content.decode()
    assert not AuditEvent.objects.filter(action="record.downloaded").exists()
    assert DOWNLOAD not in client.get("/portal/account/").content.decode()


def test_a_representative_gets_the_chart_the_session_acts_for(clinic, own, others):
    colleague, _outsider = others
    client = representative(own, appointments=True)
    PatientAccessFactory(
        patient=colleague.patient,
        user=PatientAccess.objects.get(patient=own.patient, can_messages=False).user,
        relationship=PatientAccess.Relationship.CARER,
    )
    text = client.get(SUMMARY).content.decode()
    assert "Knee twinge" in text and "Colleague visit" not in text
    client.post("/portal/switch/", {"patient": colleague.patient.pk})
    text = client.get(SUMMARY).content.decode()
    assert "Colleague visit" in text and "Knee twinge" not in text


HEALTH_RECORD_TYPES = {
    "DiagnosticReport",
    "Observation",
    "MedicationRequest",
    "AllergyIntolerance",
    "Immunization",
    "DocumentReference",
}


def test_a_representative_without_the_health_record_gets_none_of_it(own):
    client = representative(own, appointments=True, messages=True, demographics=True)

    data = bundle_of(client.get(DOWNLOAD))
    assert not {e["resource"]["resourceType"] for e in data["entry"]} & HEALTH_RECORD_TYPES
    summary = client.get(SUMMARY)
    for area in HEALTH_RECORD_AREAS:
        assert shown(summary, area) == [], area
    assert shown(summary, "messages")


def test_a_representative_granted_the_health_record_gets_it_released_results_only(own):
    client = representative(own, health_record=True)

    response = client.get(DOWNLOAD)
    data = bundle_of(response)
    assert {e["resource"]["resourceType"] for e in data["entry"]} == HEALTH_RECORD_TYPES
    assert UNRELEASED not in response.content.decode()
    summary = client.get(SUMMARY)
    for area in HEALTH_RECORD_AREAS:
        assert shown(summary, area) == list(OWN[area]), area
    for area in ("appointments", "messages", "details", "representatives"):
        assert shown(summary, area) == [], area
    assert UNRELEASED not in summary.content.decode()


def test_a_parent_of_a_young_child_gets_the_health_record_in_the_copy(own, frozen):
    child = own.patient
    child.date_of_birth = dt.date(2022, 3, 1)  # 7 at the frozen clock
    child.save(update_fields=["date_of_birth"])
    parent = PatientAccessFactory(
        patient=child,
        user=UserFactory(clinic=child.clinic),
        relationship=PatientAccess.Relationship.PARENT,
        can_appointments=False,
        can_messages=False,
        can_demographics=False,
    ).user
    summary = portal_client(parent, child).get(SUMMARY)
    assert summary.status_code == 200
    assert shown(summary, "medications") and shown(summary, "results")


def test_the_patients_copy_lists_what_each_representative_may_see(own):
    PatientAccess.objects.filter(user__last_name="Carewell").update(
        can_messages=False, can_health_record=True
    )
    text = portal_client(own.user, own.patient).get(SUMMARY).content.decode()
    assert "appointments, details, health record" in text


# --- Audit ------------------------------------------------------------------------------


def test_each_copy_is_audited_without_what_it_holds(own):
    client = representative(own, appointments=True)
    carer = PatientAccess.objects.get(patient=own.patient, can_messages=False).user
    client.get(DOWNLOAD)
    portal_client(own.user, own.patient).get(SUMMARY)

    events = list(AuditEvent.objects.filter(action="record.downloaded").order_by("pk"))
    assert [(e.actor, e.acting_for, e.clinic, e.details["format"]) for e in events] == [
        (carer, own.patient, own.clinic, "fhir-json"),
        (own.user, own.patient, own.clinic, "html"),
    ]
    assert events[0].details["sections"] == [
        "appointments",
        "appointment_requests",
    ]  # what the Bundle holds
    assert events[1].details["sections"] == [
        "details",
        "appointments",
        "appointment_requests",
        "messages",
        "change_requests",
        "results",
        "medications",
        "allergies",
        "immunizations",
        "documents",
        "representatives",
    ]
    details = json.dumps([e.details for e in events])
    for markers in OWN.values():
        for marker in markers:
            assert marker not in details
    # The patient sees who made a copy of their chart in their account activity.
    activity = portal_client(own.user, own.patient).get("/portal/account/activity/")
    assert "Copy of the record made" in activity.content.decode()


# --- A fixed number of queries ----------------------------------------------------------


def _grow_health_record(patient, count):
    """``count`` rows of each kind of the health record in all (the fixture made one):
    reports of three results, results alone, and results not released."""
    now = timezone.now()
    common = {"clinic": patient.clinic, "patient": patient, "received_at": now, "date": now}
    result = {**common, "code": "2345-7", "status": "final", "issued": now}
    reports = DiagnosticReport.objects.bulk_create(
        DiagnosticReport(**result, display=f"Panel {n}", release_at=now) for n in range(count - 1)
    )
    Observation.objects.bulk_create(
        [
            *(
                Observation(**result, report=report, display=f"Part {n}", value_quantity=n)
                for report in reports
                for n in range(3)
            ),
            *(
                Observation(**result, display=f"Alone {n}", release_at=now)
                for n in range(count - 1)
            ),
            *(Observation(**result, display=UNRELEASED) for _n in range(count - 1)),
        ]
    )
    Medication.objects.bulk_create(
        Medication(**common, kind="request", display=f"Drug {n}", status="active")
        for n in range(count - 1)
    )
    AllergyIntolerance.objects.bulk_create(
        AllergyIntolerance(**common, display=f"Allergen {n}") for n in range(count - 1)
    )
    Immunization.objects.bulk_create(
        Immunization(**common, display=f"Vaccine {n}", status="completed") for n in range(count - 1)
    )
    Document.objects.bulk_create(
        Document(
            **common, kind="letter", title=f"Letter {n}", status="current", size=1, sha1="0" * 40
        )
        for n in range(count - 1)
    )


def _grow(grant, count):
    """``count`` more visits and messages (in threads of ten, some with attachments)."""
    visit = grant.patient.appointments.first()
    start = timezone.now() - dt.timedelta(days=400)
    for n in range(count):
        AppointmentFactory(
            patient=grant.patient,
            provider=visit.provider,
            appointment_type=visit.appointment_type,
            start=start + dt.timedelta(days=n),
        )
    for n in range(count):
        if n % 10 == 0:
            thread = ThreadFactory(patient=grant.patient)
        message = MessageFactory(thread=thread)
        if n % 7 == 0:
            AttachmentFactory(message=message)
    for _n in range(count // 20):
        AppointmentRequestFactory(patient=grant.patient, appointment_type=visit.appointment_type)
        PatientAccessFactory(
            patient=grant.patient,
            user=UserFactory(clinic=grant.clinic),
            relationship=PatientAccess.Relationship.OTHER,
        )


def _queries(client, url) -> int:
    """The queries of one request, but the session's (in the cache with Redis)."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len([q for q in queries if "django_session" not in q["sql"]])


# The Bundle: the clinic's ID systems (2), the chart and its identifiers (2), the
# visits, the visit requests, the change requests with their items (2), the messages
# with their attachments (2), the results (the patient's preference, the reports, the
# results: 3), the medications, allergies, immunizations and documents (4), the
# representatives, the audit event.
# The summary also reads the threads with their messages and attachments (3) and the
# representatives.
QUERIES = {DOWNLOAD: 19, SUMMARY: 20}


@pytest.mark.parametrize("url", [DOWNLOAD, SUMMARY])
def test_the_copy_runs_a_fixed_number_of_queries_however_long_the_chart(own, url):
    """One row of each kind of the health record, then 500."""
    client = portal_client(own.user, own.patient)
    client.get(url)  # the caches of the session's account and grants are warm
    small = _queries(client, url)
    _grow(own, 100)
    _grow_health_record(own.patient, 500)
    large = _queries(client, url)
    assert own.patient.appointments.count() == 101
    assert Medication.objects.filter(patient=own.patient).count() == 500
    assert small == large == QUERIES[url]
