"""The FHIR R4 API over Django's test client: clinic scoping, scopes per verb,
versions and If-Match, paging, incremental sync, booking rules, transactions, audit."""

import datetime as dt
import json

import pytest
from django.test import Client
from fhir.resources.R4B import get_fhir_model_class

from appointments.models import Appointment
from clinics.models import IdentifierType
from fhir_api.health_record_representation import RESOURCES as HEALTH_RECORD
from fhir_api.models import IdentifierSystem
from patients.models import Patient
from portal.audit.models import AuditEvent
from tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    PatientFactory,
    PatientIdentifierFactory,
    ProviderFactory,
)
from tests.fhir.smart import get_token, register

HOST = "demo.localhost"
pytestmark = pytest.mark.django_db


def parses(data):
    """Every resource the server returns is a valid FHIR resource."""
    get_fhir_model_class(data["resourceType"]).model_validate(data)
    for entry in data.get("entry", []):
        if "resource" in entry:
            parses(entry["resource"])
    return data


class Api:
    def __init__(self, token, host=HOST):
        self.http = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")

    def get(self, path, **params):
        return self.http.get(f"/fhir/R4/{path}", params)

    def post(self, path, data, **headers):
        return self.http.post(
            f"/fhir/R4/{path}",
            json.dumps(data),
            content_type="application/fhir+json",
            headers=headers,
        )

    def put(self, path, data, **headers):
        return self.http.put(
            f"/fhir/R4/{path}",
            json.dumps(data),
            content_type="application/fhir+json",
            headers=headers,
        )


@pytest.fixture
def ehr(clinic):
    return register(clinic)


@pytest.fixture
def api(frozen, ehr):
    return Api(get_token(Client(), ehr))


@pytest.fixture
def chart(clinic):
    return PatientIdentifierFactory(
        patient=PatientFactory(clinic=clinic, first_name="Olivia", last_name="Martin"),
        number="1234567890",
    ).patient


@pytest.fixture
def outsider_chart(other_clinic):
    return PatientIdentifierFactory(patient=PatientFactory(clinic=other_clinic)).patient


def new_patient(number="5550001111", family="Tremblay"):
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:portal:demo:id:health-card", "value": number}],
        "name": [{"use": "official", "family": family, "given": ["Rose"]}],
        "gender": "female",
        "birthDate": "1990-04-01",
        "telecom": [{"system": "phone", "use": "mobile", "value": "+16135550199"}],
    }


# --- Discovery -------------------------------------------------------------------------


def test_metadata_needs_no_token_and_lists_exactly_what_is_supported(clinic):
    response = Client().get("/fhir/R4/metadata", HTTP_HOST=HOST)

    assert response["Content-Type"].startswith("application/fhir+json")
    statement = parses(response.json())
    assert statement["fhirVersion"] == "4.0.1"
    served = {
        r["type"]: [i["code"] for i in r["interaction"]] for r in statement["rest"][0]["resource"]
    }
    assert served == {
        "Patient": ["read", "search-type", "create", "update"],
        "Practitioner": ["read", "search-type"],
        "Schedule": ["read", "search-type"],
        "Slot": ["search-type"],
        "Appointment": ["read", "search-type", "create", "update"],
        "Task": ["read", "search-type", "update"],
        "RelatedPerson": ["read", "search-type"],
        "Communication": ["read", "search-type", "create"],
        **{r: ["read", "search-type", "create", "update"] for r in HEALTH_RECORD},
    }


def test_an_unknown_host_has_no_api(db):
    assert Client().get("/fhir/R4/metadata", HTTP_HOST="nowhere.localhost").status_code == 404


# --- Tokens and scopes -------------------------------------------------------------------


def test_it_refuses_a_request_without_a_token(chart):
    response = Client().get(f"/fhir/R4/Patient/{chart.pk}", HTTP_HOST=HOST)

    assert response.status_code == 401
    assert parses(response.json())["resourceType"] == "OperationOutcome"


def test_another_clinics_token_gets_nothing_here(other_clinic, chart):
    outsider = register(other_clinic)
    token = get_token(Client(), outsider, host="northside.localhost")

    response = Api(token).get(f"Patient/{chart.pk}")

    assert response.status_code == 401
    assert Api(token).get("Patient").status_code == 401


def test_another_clinics_patient_is_not_found(api, outsider_chart):
    response = api.get(f"Patient/{outsider_chart.pk}")

    assert response.status_code == 404
    assert parses(response.json())["issue"][0]["code"] == "not-found"
    assert (
        api.get("Patient", identifier=outsider_chart.identifiers.get().number)
        .json()
        .get("entry", [])
        == []
    )


def test_a_read_only_scope_cannot_create_or_update(clinic, chart):
    reader = register(clinic, scopes="system/Patient.rs", name="reader")
    api = Api(get_token(Client(), reader, scope="system/Patient.rs", key_name="reader"))

    assert api.get(f"Patient/{chart.pk}").status_code == 200
    assert api.get("Patient").status_code == 200
    assert api.post("Patient", new_patient()).status_code == 403
    body = api.get(f"Patient/{chart.pk}").json()
    assert api.put(f"Patient/{chart.pk}", body).status_code == 403
    assert api.get("Appointment").status_code == 403
    assert not Patient.objects.filter(last_name="Tremblay").exists()


def test_a_search_only_scope_cannot_read_one_by_id(clinic, chart):
    searcher = register(clinic, scopes="system/Patient.s", name="searcher")
    api = Api(get_token(Client(), searcher, scope="system/Patient.s", key_name="searcher"))

    assert api.get("Patient").status_code == 200
    assert api.get(f"Patient/{chart.pk}").status_code == 403


def test_each_client_is_held_to_its_rate(clinic, chart):
    slow = register(clinic, requests_per_minute=2, name="slow")
    api = Api(get_token(Client(), slow, key_name="slow"))

    statuses = [api.get(f"Patient/{chart.pk}").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


# --- Patient -------------------------------------------------------------------------------


def test_it_finds_a_patient_by_identifier_system_and_value(api, chart, clinic):
    health_card = IdentifierType.objects.for_clinic(clinic).get(code="health-card")
    IdentifierSystem.objects.create(
        clinic=clinic, id_type=health_card, system="https://ohip.example/hc"
    )

    found = parses(api.get("Patient", identifier="https://ohip.example/hc|1234-567-890").json())
    wrong_system = api.get("Patient", identifier="urn:other|1234567890").json()

    assert [e["resource"]["id"] for e in found["entry"]] == [str(chart.pk)]
    assert found["entry"][0]["resource"]["identifier"] == [
        {"system": "https://ohip.example/hc", "value": "1234567890"}
    ]
    assert wrong_system.get("entry", []) == []


def test_it_searches_patients_by_name_and_birthdate(api, chart, clinic):
    PatientFactory(
        clinic=clinic, first_name="Noah", last_name="Roy", date_of_birth=dt.date(2001, 1, 2)
    )

    by_name = api.get("Patient", name="mart").json()
    by_birthdate = api.get("Patient", birthdate="2001-01-02").json()

    assert [e["resource"]["id"] for e in by_name["entry"]] == [str(chart.pk)]
    assert [e["resource"]["name"][0]["family"] for e in by_birthdate["entry"]] == ["Roy"]


def test_it_refuses_search_parameters_it_does_not_support(api):
    response = api.get("Patient", family="x")

    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "not-supported"


def test_it_pages_with_next_links(api, clinic, django_assert_max_num_queries):
    for _ in range(7):
        PatientIdentifierFactory(patient=PatientFactory(clinic=clinic))
    seen, url = [], "/fhir/R4/Patient?_count=3"
    while url:
        with django_assert_max_num_queries(8):
            bundle = parses(api.http.get(url).json())
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        nexts = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nexts[0].removeprefix("http://demo.localhost") if nexts else None

    assert len(seen) == 7 == len(set(seen))


def test_creating_a_patient_keeps_the_chart_and_its_identifier(api, ehr):
    response = api.post("Patient", new_patient())

    assert response.status_code == 201
    created = parses(response.json())
    patient = Patient.objects.get(pk=created["id"])
    assert (patient.first_name, patient.last_name, patient.sex) == ("Rose", "Tremblay", "F")
    assert patient.identifiers.get().number == "5550001111"
    assert response["ETag"] == f'W/"{created["meta"]["versionId"]}"'
    assert response["Location"].startswith(f"http://demo.localhost/fhir/R4/Patient/{patient.pk}")
    event = AuditEvent.objects.get(action="patient.created_by_api")
    assert event.actor == ehr.account
    assert patient.history.get().history_user_id == ehr.account.pk


def test_an_identifier_another_chart_holds_is_a_conflict(api, chart):
    response = api.post("Patient", new_patient(number="1234567890"))

    assert response.status_code == 409
    assert Patient.objects.count() == 1


def test_an_invalid_patient_is_refused_with_an_outcome(api):
    response = api.post("Patient", {**new_patient(), "birthDate": "yesterday"})

    assert response.status_code == 400
    assert parses(response.json())["issue"][0]["code"] == "invalid"


def test_an_identifier_of_an_unknown_system_is_refused(api):
    body = new_patient()
    body["identifier"][0]["system"] = "urn:unknown"

    assert api.post("Patient", body).status_code == 400


def test_update_with_the_current_version_applies_and_a_stale_one_is_refused(api, chart):
    current = api.get(f"Patient/{chart.pk}")
    body = current.json()
    body["name"][0]["family"] = "Martin-Roy"

    updated = api.put(f"Patient/{chart.pk}", body, **{"If-Match": current["ETag"]})
    stale = api.put(
        f"Patient/{chart.pk}", {**body, "gender": "male"}, **{"If-Match": current["ETag"]}
    )

    assert updated.status_code == 200
    assert updated["ETag"] != current["ETag"]
    assert stale.status_code == 412
    chart.refresh_from_db()
    assert (chart.last_name, chart.sex) == ("Martin-Roy", "U")


def test_incremental_sync_returns_only_what_changed_since(api, chart, clinic, frozen):
    since = api.get(f"Patient/{chart.pk}").json()["meta"]["lastUpdated"]
    frozen.shift(dt.timedelta(seconds=1))
    later = PatientFactory(clinic=clinic)

    changed = api.get("Patient", _lastUpdated=f"gt{since}").json()

    assert [e["resource"]["id"] for e in changed["entry"]] == [str(later.pk)]


# --- Practitioner --------------------------------------------------------------------------


def test_it_lists_the_clinics_providers_as_practitioners(api, clinic, other_clinic):
    provider = ProviderFactory(clinic=clinic, name="Dr. Ada Chen")
    ProviderFactory(clinic=other_clinic)

    bundle = parses(api.get("Practitioner").json())

    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(provider.pk)]
    assert api.get(f"Practitioner/{provider.pk}").json()["name"][0]["text"] == "Dr. Ada Chen"


# --- Appointment ---------------------------------------------------------------------------


@pytest.fixture
def visit_kind(clinic):
    return AppointmentTypeFactory(clinic=clinic, duration_minutes=30)


@pytest.fixture
def doctor(clinic, visit_kind):
    return ProviderFactory(
        clinic=clinic, appointment_types=[visit_kind], weekly_hours=(dt.time(9), dt.time(17))
    )


def booking(chart, doctor, visit_kind, start, patient_ref=None):
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "serviceType": [
            {"coding": [{"system": "urn:portal:appointment-type", "code": str(visit_kind.pk)}]}
        ],
        "start": start,
        "participant": [
            {"actor": {"reference": patient_ref or f"Patient/{chart.pk}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{doctor.pk}"}, "status": "accepted"},
        ],
    }


# The frozen clock is 2030-01-15 09:00 in Toronto (a Tuesday).
TOMORROW_10 = "2030-01-16T10:00:00-05:00"


def test_booking_through_the_api_follows_the_clinics_rules(api, chart, doctor, visit_kind, frozen):
    response = api.post("Appointment", booking(chart, doctor, visit_kind, TOMORROW_10))
    taken = api.post("Appointment", booking(chart, doctor, visit_kind, TOMORROW_10))
    off_hours = api.post(
        "Appointment", booking(chart, doctor, visit_kind, "2030-01-16T20:00:00-05:00")
    )

    assert response.status_code == 201, response.content
    visit = Appointment.objects.get(pk=parses(response.json())["id"])
    assert visit.booked_by.username.startswith("api-client-")
    assert taken.status_code == 409
    assert off_hours.status_code == 422
    assert off_hours.json()["issue"][0]["code"] == "business-rule"
    assert Appointment.objects.count() == 1


def test_it_books_with_another_clinics_patient_never(
    api, outsider_chart, doctor, visit_kind, frozen
):
    response = api.post("Appointment", booking(outsider_chart, doctor, visit_kind, TOMORROW_10))

    assert response.status_code == 400
    assert not Appointment.objects.exists()


def test_cancelling_through_the_api_uses_the_cancel_service(api, chart, doctor, visit_kind, frozen):
    created = api.post("Appointment", booking(chart, doctor, visit_kind, TOMORROW_10))
    body = created.json()

    cancelled = api.put(
        f"Appointment/{body['id']}",
        {**body, "status": "cancelled"},
        **{"If-Match": created["ETag"]},
    )
    stale = api.put(
        f"Appointment/{body['id']}", {**body, "status": "noshow"}, **{"If-Match": created["ETag"]}
    )

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert stale.status_code == 412
    assert (
        AuditEvent.objects.filter(action="appointment.cancelled")
        .get()
        .actor.username.startswith("api-client-")
    )


def test_it_searches_one_days_appointments_in_the_clinics_time_zone(
    api, chart, doctor, visit_kind, clinic, frozen
):
    from django.utils import timezone

    tz = clinic.tz
    on_the_day = AppointmentFactory(
        patient=chart,
        provider=doctor,
        appointment_type=visit_kind,
        start=dt.datetime(2030, 1, 16, 23, 30, tzinfo=tz),
    )
    AppointmentFactory(
        patient=chart,
        provider=doctor,
        appointment_type=visit_kind,
        start=dt.datetime(2030, 1, 17, 0, 30, tzinfo=tz),
    )
    assert timezone.is_aware(on_the_day.start)

    bundle = parses(api.get("Appointment", date="2030-01-16").json())

    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(on_the_day.pk)]


def test_it_searches_appointments_by_patient_and_status(
    api, chart, doctor, visit_kind, clinic, frozen
):
    mine = AppointmentFactory(patient=chart, provider=doctor, appointment_type=visit_kind)
    AppointmentFactory(
        patient=chart,
        provider=doctor,
        appointment_type=visit_kind,
        start=mine.start + dt.timedelta(hours=1),
        status=Appointment.Status.CANCELLED,
    )
    AppointmentFactory(
        clinic=clinic,
        provider=doctor,
        appointment_type=visit_kind,
        patient=PatientFactory(clinic=clinic),
        start=mine.start + dt.timedelta(hours=2),
    )

    bundle = api.get("Appointment", patient=f"Patient/{chart.pk}", status="booked").json()

    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(mine.pk)]


def test_another_clinics_appointment_is_not_found(api, other_clinic):
    visit = AppointmentFactory(patient=PatientFactory(clinic=other_clinic))

    assert api.get(f"Appointment/{visit.pk}").status_code == 404
    assert api.put(f"Appointment/{visit.pk}", {"resourceType": "Appointment"}).status_code == 404


# --- Schedule and Slot ------------------------------------------------------------------


@pytest.fixture
def slots_api(frozen, clinic):
    ehr = register(
        clinic, scopes="system/Schedule.rs system/Slot.s system/Appointment.cs", name="sched"
    )
    return Api(get_token(Client(), ehr, scope=ehr.scopes, key_name="sched"))


def test_each_provider_has_a_schedule_of_the_types_they_offer(
    slots_api, doctor, visit_kind, other_clinic
):
    ProviderFactory(clinic=other_clinic)

    bundle = parses(slots_api.get("Schedule").json())
    one = parses(slots_api.get(f"Schedule/{doctor.pk}").json())

    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(doctor.pk)]
    assert one["actor"] == [{"reference": f"Practitioner/{doctor.pk}", "display": doctor.name}]
    assert one["serviceType"][0]["coding"][0]["code"] == str(visit_kind.pk)


def test_slots_are_the_free_times_and_the_visits_of_a_schedule(
    slots_api, chart, doctor, visit_kind, clinic
):
    # Wednesday 2030-01-16, 9:00-17:00 in 30-minute visits: 16 slots, one taken.
    visit = AppointmentFactory(
        patient=chart,
        provider=doctor,
        appointment_type=visit_kind,
        start=dt.datetime(2030, 1, 16, 10, 0, tzinfo=clinic.tz),
    )
    params = {"schedule": f"Schedule/{doctor.pk}", "start": ["ge2030-01-16", "lt2030-01-17"]}

    bundle = parses(slots_api.get("Slot", **params).json())
    free = [e["resource"] for e in bundle["entry"] if e["resource"]["status"] == "free"]
    busy = [e["resource"] for e in bundle["entry"] if e["resource"]["status"] == "busy"]

    assert len(free) == 15
    assert "2030-01-16T15:00:00Z" not in [slot["start"] for slot in free]
    assert [slot["id"] for slot in busy] == [f"busy-{visit.pk}"]
    # A free slot is a booking the rules accept.
    booked = slots_api.post("Appointment", booking(chart, doctor, visit_kind, free[0]["start"]))
    assert booked.status_code == 201, booked.content


def test_slot_search_needs_a_bounded_range(slots_api, doctor):
    too_long = {"schedule": f"Schedule/{doctor.pk}", "start": ["ge2030-01-01", "lt2030-03-01"]}
    unbounded = {"schedule": f"Schedule/{doctor.pk}", "start": "ge2030-01-01"}

    assert slots_api.get("Slot", **too_long).status_code == 400
    assert slots_api.get("Slot", **unbounded).status_code == 400


def test_another_clinics_schedule_has_no_slots_here(slots_api, other_clinic):
    theirs = ProviderFactory(clinic=other_clinic, weekly_hours=(dt.time(9), dt.time(17)))
    params = {"schedule": f"Schedule/{theirs.pk}", "start": ["ge2030-01-16", "lt2030-01-17"]}

    assert slots_api.get("Slot", **params).json().get("entry", []) == []
    assert slots_api.get(f"Schedule/{theirs.pk}").status_code == 404


# --- Transactions --------------------------------------------------------------------------


def test_a_transaction_imports_patients_and_their_appointments_together(
    api, doctor, visit_kind, frozen
):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "resource": new_patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": booking(
                    None,
                    doctor,
                    visit_kind,
                    TOMORROW_10,
                    patient_ref="urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                ),
                "request": {"method": "POST", "url": "Appointment"},
            },
        ],
    }
    # Appointments may come first: Patients are written first.
    bundle["entry"].reverse()

    response = api.post("", bundle)

    assert response.status_code == 200, response.content
    answer = parses(response.json())
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created", "201 Created"]
    patient = Patient.objects.get(last_name="Tremblay")
    assert Appointment.objects.get().patient == patient


def test_a_transaction_writes_nothing_when_one_entry_fails(api, chart):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": new_patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": new_patient(number="1234567890", family="Dup"),
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }

    response = api.post("", bundle)

    assert response.status_code == 409
    assert list(Patient.objects.values_list("last_name", flat=True)) == ["Martin"]


def test_every_call_is_audited_with_the_client_as_actor(api, ehr, chart):
    api.get(f"Patient/{chart.pk}")
    api.get("Patient", name="Mar")

    events = AuditEvent.objects.filter(action__startswith="fhir.").order_by("id")
    assert [e.action for e in events] == ["fhir.token_issued", "fhir.read", "fhir.search"]
    assert {e.actor for e in events} == {ehr.account}
    assert events[1].acting_for == chart


def test_a_days_appointments_page_in_start_order_across_equal_starts(
    api, chart, doctor, visit_kind, clinic, frozen
):
    others = [ProviderFactory(clinic=clinic, appointment_types=[visit_kind]) for _ in range(2)]
    starts = [dt.datetime(2030, 1, 16, hour, 0, tzinfo=clinic.tz) for hour in (11, 9, 10)]
    made = [
        AppointmentFactory(
            patient=PatientFactory(clinic=clinic),
            provider=provider,
            appointment_type=visit_kind,
            start=start,
        )
        for start in starts
        for provider in [doctor, *others]
    ]
    expected = [str(a.pk) for a in sorted(made, key=lambda a: (a.start, a.pk))]
    seen, url = [], "/fhir/R4/Appointment?date=2030-01-16&_count=2"
    while url:
        bundle = api.http.get(url).json()
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        nexts = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nexts[0].removeprefix("http://demo.localhost") if nexts else None

    assert seen == expected
