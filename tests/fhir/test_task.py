"""Patients' requests as FHIR Tasks: change requests and appointment requests read,
searched and decided by the clinic's record system through the services staff use in
the admin (their rules, their notices), once, with the client as the actor."""

import contextlib
import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from appointments import services as booking
from appointments.models import Appointment, AppointmentRequest
from fhir_api import views
from patients import demographics
from patients.models import ChangeRequest, PatientAccess
from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from records import services as records
from tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    MedicationFactory,
    PatientAccessFactory,
    PatientFactory,
    ProviderFactory,
    portal_settings_of,
)
from tests.fhir.smart import get_token, register
from tests.fhir.test_api import Api, parses

pytestmark = pytest.mark.django_db

# The frozen clock is 2030-01-15 09:00 in Toronto (a Tuesday).
TOMORROW_10 = "2030-01-16T10:00:00-05:00"


@pytest.fixture
def ehr(clinic):
    return register(clinic)


@pytest.fixture
def api(frozen, ehr):
    return Api(get_token(Client(), ehr))


@pytest.fixture
def ada(clinic):
    """Ada, with her own portal account."""
    return PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Ada", city="Ottawa")
    )


@pytest.fixture
def visit_kind(clinic):
    """A visit patients may ask for (the clinic takes requests)."""
    portal_settings_of(clinic, appointment_requests=True)
    return AppointmentTypeFactory(clinic=clinic, name="Regular visit", duration_minutes=30)


@pytest.fixture
def doctor(clinic, visit_kind):
    return ProviderFactory(
        clinic=clinic,
        name="Dr Osei",
        appointment_types=[visit_kind],
        weekly_hours=(dt.time(9), dt.time(17)),
    )


def change_request(grant, **proposed):
    return demographics.change_request_create(
        request=None,
        patient=grant.patient,
        requested_by=grant.user,
        proposed=proposed or {"city": "Gatineau"},
    )


def appointment_request(grant, visit_kind, provider=None, note="Not before 10, please"):
    return booking.appointment_request_create(
        patient=grant.patient,
        requested_by=grant.user,
        appointment_type=visit_kind,
        provider=provider,
        days=["wed", "thu"],
        times=["morning"],
        note=note,
    )


def refill_request(grant, medication=None, note="Main Street Pharmacy"):
    medication = medication or MedicationFactory(patient=grant.patient, status="active")
    return records.refill_request_create(
        patient=grant.patient,
        medication_id=medication.pk,
        pharmacy_note=note,
        requested_by=grant.user,
    )


def decided(api, task_id, status, **fields):
    """The Task as read, with ``status`` (and ``fields``) set, PUT with its ETag."""
    current = api.get(f"Task/{task_id}")
    body = {**current.json(), "status": status, **fields}
    return api.put(f"Task/{task_id}", body, **{"If-Match": current["ETag"]})


def started(start, practitioner=None):
    outputs = [
        {
            "type": {"coding": [{"system": "urn:portal:task-output", "code": "start"}]},
            "valueDateTime": start,
        }
    ]
    if practitioner is not None:
        outputs.append(
            {
                "type": {"coding": [{"system": "urn:portal:task-output", "code": "practitioner"}]},
                "valueReference": {"reference": f"Practitioner/{practitioner.pk}"},
            }
        )
    return outputs


# --- Reading -----------------------------------------------------------------------------


def test_a_change_request_reads_as_a_task_of_what_the_patient_asked(api, ada, frozen):
    asked = change_request(ada, city="Gatineau", mobile="+16135550199")

    response = api.get(f"Task/cr-{asked.pk}")

    assert response.status_code == 200
    task = parses(response.json())
    assert response["ETag"] == 'W/"1"'
    assert task["id"] == f"cr-{asked.pk}"
    assert (task["status"], task["intent"]) == ("requested", "order")
    assert task["code"]["coding"] == [
        {"system": "urn:portal:task", "code": "change-request", "display": "Change of details"}
    ]
    assert task["for"] == task["requester"] == {"reference": f"Patient/{ada.patient_id}"}
    assert task["authoredOn"] == task["lastModified"] == "2030-01-15T14:00:00Z"
    assert {i["type"]["coding"][0]["code"]: i["valueString"] for i in task["input"]} == {
        "city": "Gatineau",
        "mobile": "+16135550199",
    }
    assert "output" not in task and "statusReason" not in task


def test_a_representatives_request_names_their_grant_as_requester(api, ada, clinic):
    type(ada.patient).objects.filter(pk=ada.patient_id).update(address_line2="Apt 2")
    ada.patient.refresh_from_db()
    carer = PatientAccessFactory(
        patient=ada.patient,
        user__clinic=clinic,
        user__email="carer@example.com",
        relationship=PatientAccess.Relationship.CARER,
    )
    asked = change_request(carer, address_line2="")

    task = parses(api.get(f"Task/cr-{asked.pk}").json())

    assert task["requester"] == {"reference": f"RelatedPerson/{carer.pk}"}
    [emptied] = task["input"]
    assert emptied["valueCodeableConcept"]["coding"][0]["code"] == "clear"


def test_an_appointment_request_reads_with_its_preferences(api, ada, visit_kind, doctor):
    asked = appointment_request(ada, visit_kind, provider=doctor)

    task = parses(api.get(f"Task/ar-{asked.pk}").json())

    assert task["code"]["coding"][0]["code"] == "appointment-request"
    values = [
        (i["type"]["coding"][0]["code"], i.get("valueCode") or i.get("valueString"))
        for i in task["input"]
        if "valueReference" not in i and "valueCodeableConcept" not in i
    ]
    assert values == [
        ("preferred-day", "wed"),
        ("preferred-day", "thu"),
        ("preferred-time", "morning"),
        ("note", "Not before 10, please"),
    ]
    [practitioner] = [i["valueReference"] for i in task["input"] if "valueReference" in i]
    assert practitioner["reference"] == f"Practitioner/{doctor.pk}"
    assert task["description"] == "Appointment request: Regular visit"


def test_registrations_and_other_clinics_requests_are_not_tasks(api, ada, other_clinic):
    outsider = PatientAccessFactory(patient=PatientFactory(clinic=other_clinic))
    theirs = change_request(outsider)
    registration = change_request(ada)
    ChangeRequest.objects.filter(pk=registration.pk).update(kind=ChangeRequest.Kind.REGISTRATION)

    for task_id in (f"cr-{theirs.pk}", f"cr-{registration.pk}", "xx-1", f"cr{theirs.pk}"):
        response = api.get(f"Task/{task_id}")
        assert response.status_code == 404, task_id
        assert response.json()["resourceType"] == "OperationOutcome"
    put = api.put(f"Task/cr-{theirs.pk}", {"resourceType": "Task", "id": f"cr-{theirs.pk}"})
    assert put.status_code == 404
    assert api.get("Task").json()["entry"] == []


def test_the_task_scopes_are_needed_per_verb(clinic, ada, frozen):
    asked = change_request(ada)
    reader = register(clinic, scopes="system/Task.rs", name="reader")
    api = Api(get_token(Client(), reader, scope="system/Task.rs", key_name="reader"))
    blind = register(clinic, scopes="system/Patient.rs", name="blind")
    no_task = Api(get_token(Client(), blind, scope="system/Patient.rs", key_name="blind"))

    body = api.get(f"Task/cr-{asked.pk}").json()

    assert api.put(f"Task/cr-{asked.pk}", {**body, "status": "completed"}).status_code == 403
    assert no_task.get("Task").status_code == 403
    assert no_task.get(f"Task/cr-{asked.pk}").status_code == 403
    assert ChangeRequest.objects.get().is_pending


# --- Searching ---------------------------------------------------------------------------


def test_it_searches_by_status_code_and_patient(api, ada, clinic, visit_kind, frozen):
    waiting = change_request(ada)
    withdrawn = change_request(ada, city="Hull")
    demographics.change_request_withdraw(request=None, change_request=withdrawn, user=ada.user)
    other = PatientAccessFactory(patient=PatientFactory(clinic=clinic))
    visit = appointment_request(other, visit_kind)

    def found(**params):
        return [e["resource"]["id"] for e in parses(api.get("Task", **params).json())["entry"]]

    assert found() == [f"cr-{waiting.pk}", f"cr-{withdrawn.pk}", f"ar-{visit.pk}"]
    assert found(status="requested") == [f"cr-{waiting.pk}", f"ar-{visit.pk}"]
    assert found(status="in-progress") == [f"cr-{waiting.pk}", f"ar-{visit.pk}"]
    assert found(status="cancelled,completed") == [f"cr-{withdrawn.pk}"]
    assert found(code="appointment-request") == [f"ar-{visit.pk}"]
    assert found(code="urn:portal:task|change-request", status="requested") == [f"cr-{waiting.pk}"]
    assert found(code="urn:elsewhere|change-request") == []
    assert found(patient=f"Patient/{other.patient_id}") == [f"ar-{visit.pk}"]
    assert api.get("Task", status="finished").status_code == 400
    assert api.get("Task", owner="x").status_code == 400


def test_incremental_sync_finds_the_requests_decided_since(api, ada, clinic, frozen):
    first, second = change_request(ada), change_request(ada, city="Hull")
    since = api.get(f"Task/cr-{first.pk}").json()["meta"]["lastUpdated"]
    frozen.shift(dt.timedelta(minutes=1))
    demographics.change_request_withdraw(request=None, change_request=second, user=ada.user)

    changed = api.get("Task", _lastUpdated=f"gt{since}").json()
    before = api.get("Task", _lastUpdated=f"le{since}").json()

    assert [e["resource"]["id"] for e in changed["entry"]] == [f"cr-{second.pk}"]
    assert changed["entry"][0]["resource"]["meta"] == {
        "versionId": "2",
        "lastUpdated": "2030-01-15T14:01:00Z",
    }
    assert [e["resource"]["id"] for e in before["entry"]] == [f"cr-{first.pk}"]


def test_it_pages_across_the_kinds_of_request(api, ada, visit_kind):
    made = [f"cr-{change_request(ada, city=f'City {i}').pk}" for i in range(3)]
    made += [f"ar-{appointment_request(ada, visit_kind, note=str(i)).pk}" for i in range(2)]
    seen, url = [], "/fhir/R4/Task?_count=2"
    for _page in range(5):
        bundle = parses(api.http.get(url).json())
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        nexts = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nexts:
            break
        url = nexts[0].removeprefix("http://demo.localhost")

    assert seen == made
    none = parses(api.get("Task", _count="0").json())
    assert none["entry"] == [] and [link["relation"] for link in none["link"]] == ["self"]
    for cursor in ("zz-1", "cr-", "cr-1-2", "12"):
        assert api.get("Task", _after=cursor).status_code == 400, cursor


def _search_queries(api, django_assert_num_queries, count):
    # The token, the audit row, and per kind its rows (with their grants, patients,
    # visit types and medications) and the change requests' items; the clinic's host is
    # cached.
    api.get("metadata")
    with django_assert_num_queries(count):
        response = api.get("Task", _count="200")
    assert response.status_code == 200
    return response.json()


# One query per kind of request (change, appointment, refill) for its rows, one for the
# change requests' items, the token and the audit row.
SEARCH_QUERIES = 6


def test_search_queries_do_not_grow_with_the_rows(
    api, ada, clinic, visit_kind, doctor, django_assert_num_queries
):
    change_request(ada)
    appointment_request(ada, visit_kind, provider=doctor)
    refill_request(ada)
    one_each = _search_queries(api, django_assert_num_queries, SEARCH_QUERIES)
    assert len(one_each["entry"]) == 3

    for i in range(30):
        patient = PatientAccessFactory(patient=PatientFactory(clinic=clinic))
        change_request(patient, city=f"City {i}", email=f"new{i}@example.com")
        appointment_request(patient, visit_kind, provider=doctor if i % 2 else None)
        refill_request(patient)
    many = _search_queries(api, django_assert_num_queries, SEARCH_QUERIES)
    assert len(many["entry"]) == 93


# --- Deciding a change request -----------------------------------------------------------


def test_completing_a_change_request_applies_it_as_staff_accepting_all(api, ada, ehr):
    asked = change_request(ada, city="Gatineau")

    response = decided(api, f"cr-{asked.pk}", "completed")

    assert response.status_code == 200, response.content
    task = parses(response.json())
    assert (task["status"], task["meta"]["versionId"], response["ETag"]) == (
        "completed",
        "2",
        'W/"2"',
    )
    assert [o["valueCode"] for o in task["output"]] == ["city"]
    ada.patient.refresh_from_db()
    assert ada.patient.city == "Gatineau"
    asked.refresh_from_db()
    assert (asked.status, asked.decided_by) == (ChangeRequest.Status.ACCEPTED, ehr.account)
    assert Notification.objects.filter(template="request_decided").count() == 1
    actions = AuditEvent.objects.filter(actor=ehr.account).values_list("action", flat=True)
    assert {"change_request.accepted", "patient.changed", "fhir.update"} <= set(actions)


def test_rejecting_needs_a_reason_the_patient_reads(api, ada):
    asked = change_request(ada, city="Gatineau")

    unexplained = decided(api, f"cr-{asked.pk}", "rejected")
    response = decided(
        api, f"cr-{asked.pk}", "rejected", statusReason={"text": "Please bring proof of address"}
    )

    assert unexplained.status_code == 422
    assert unexplained.json()["issue"][0]["code"] == "business-rule"
    assert response.status_code == 200, response.content
    task = parses(response.json())
    assert (task["status"], task["statusReason"]) == (
        "rejected",
        {"text": "Please bring proof of address"},
    )
    asked.refresh_from_db()
    assert asked.status == ChangeRequest.Status.DECLINED
    assert asked.decline_reason == "Please bring proof of address"
    ada.patient.refresh_from_db()
    assert ada.patient.city == "Ottawa"
    assert Notification.objects.filter(template="request_decided").count() == 1


def test_a_chart_changed_since_the_request_is_left_to_staff(api, ada):
    asked = change_request(ada, city="Gatineau")
    type(ada.patient).objects.filter(pk=ada.patient_id).update(city="Hull")

    response = decided(api, f"cr-{asked.pk}", "completed")

    assert response.status_code == 409
    assert "city" in response.json()["issue"][0]["diagnostics"]
    assert ChangeRequest.objects.get().is_pending


def test_a_decision_is_made_once(api, ada, ehr):
    asked = change_request(ada)
    current = api.get(f"Task/cr-{asked.pk}")
    body, version = current.json(), current["ETag"]

    first = api.put(f"Task/cr-{asked.pk}", {**body, "status": "completed"}, **{"If-Match": version})
    replay = api.put(
        f"Task/cr-{asked.pk}",
        {**body, "status": "rejected", "statusReason": {"text": "No"}},
        **{"If-Match": version},
    )
    forged = api.put(
        f"Task/cr-{asked.pk}",
        {**first.json(), "status": "rejected", "statusReason": {"text": "No"}},
    )
    again = api.put(f"Task/cr-{asked.pk}", first.json())

    assert first.status_code == 200
    assert (replay.status_code, forged.status_code, again.status_code) == (412, 409, 409)
    assert ChangeRequest.objects.get().status == ChangeRequest.Status.ACCEPTED
    assert AuditEvent.objects.filter(action__startswith="change_request.accepted").count() == 1
    assert AuditEvent.objects.filter(action="change_request.declined").count() == 0


@pytest.mark.parametrize(
    "change",
    [
        {"description": "Something else"},
        {"for": {"reference": "Patient/987654"}},
        {"intent": "plan"},
        {"input": []},
        {"note": [{"text": "x"}]},
    ],
)
def test_an_update_may_change_only_the_decision(api, ada, change):
    asked = change_request(ada)

    response = decided(api, f"cr-{asked.pk}", "completed", **change)

    assert response.status_code == 422
    assert response.json()["issue"][0]["code"] == "business-rule"
    assert ChangeRequest.objects.get().is_pending


def test_other_statuses_are_refused_and_waiting_changes_nothing(api, ada):
    asked = change_request(ada)

    for status in ("cancelled", "on-hold", "failed"):
        assert decided(api, f"cr-{asked.pk}", status).status_code == 422, status
    waiting = decided(api, f"cr-{asked.pk}", "in-progress")

    assert waiting.status_code == 200
    assert waiting.json()["status"] == "requested"
    assert ChangeRequest.objects.get().is_pending
    assert api.put(f"Task/cr-{asked.pk}", {"resourceType": "Patient"}).status_code == 400


def test_a_withdrawn_request_is_cancelled_and_cannot_be_decided(api, ada):
    asked = change_request(ada)
    demographics.change_request_withdraw(request=None, change_request=asked, user=ada.user)

    task = api.get(f"Task/cr-{asked.pk}").json()
    response = api.put(f"Task/cr-{asked.pk}", {**task, "status": "completed"})

    assert task["status"] == "cancelled"
    assert response.status_code == 409
    assert ChangeRequest.objects.get().status == ChangeRequest.Status.WITHDRAWN


# --- Deciding an appointment request -----------------------------------------------------


def test_completing_an_appointment_request_books_the_time_given(api, ada, visit_kind, doctor, ehr):
    asked = appointment_request(ada, visit_kind)

    response = decided(api, f"ar-{asked.pk}", "completed", output=started(TOMORROW_10, doctor))

    assert response.status_code == 200, response.content
    visit = Appointment.objects.get()
    assert (visit.provider, visit.booked_by) == (doctor, ehr.account)
    assert visit.start == dt.datetime.fromisoformat(TOMORROW_10)
    task = parses(response.json())
    assert task["output"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "urn:portal:task-output",
                        "code": "appointment",
                        "display": "Appointment booked",
                    }
                ]
            },
            "valueReference": {"reference": f"Appointment/{visit.pk}"},
        }
    ]
    asked.refresh_from_db()
    assert (asked.status, asked.appointment) == (AppointmentRequest.Status.CONFIRMED, visit)
    assert Notification.objects.filter(template="appointment_booked").exists()
    assert AuditEvent.objects.filter(
        action="appointment_request.confirmed", actor=ehr.account
    ).exists()


def test_the_preferred_practitioner_is_booked_when_none_is_given(api, ada, visit_kind, doctor):
    asked = appointment_request(ada, visit_kind, provider=doctor)

    response = decided(api, f"ar-{asked.pk}", "completed", output=started(TOMORROW_10))

    assert response.status_code == 200, response.content
    assert Appointment.objects.get().provider == doctor


def test_a_booking_the_rules_refuse_leaves_the_request_waiting(
    api, ada, clinic, visit_kind, doctor
):
    asked = appointment_request(ada, visit_kind)
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic),
        provider=doctor,
        appointment_type=visit_kind,
        start=dt.datetime.fromisoformat(TOMORROW_10),
    )
    task_id = f"ar-{asked.pk}"

    taken = decided(api, task_id, "completed", output=started(TOMORROW_10, doctor))
    off_hours = decided(
        api, task_id, "completed", output=started("2030-01-16T20:00:00-05:00", doctor)
    )
    no_time = decided(api, task_id, "completed")
    no_one = decided(api, task_id, "completed", output=started(TOMORROW_10))
    naive = decided(api, task_id, "completed", output=started("2030-01-16T10:00:00", doctor))

    assert taken.status_code == 409
    assert (off_hours.status_code, off_hours.json()["issue"][0]["code"]) == (
        422,
        "business-rule",
    )
    assert (no_time.status_code, no_one.status_code, naive.status_code) == (400, 400, 400)
    assert AppointmentRequest.objects.get().status == AppointmentRequest.Status.PENDING
    assert Appointment.objects.count() == 1


def test_rejecting_an_appointment_request_declines_it_with_the_reason(api, ada, visit_kind):
    asked = appointment_request(ada, visit_kind)

    too_long = decided(api, f"ar-{asked.pk}", "rejected", statusReason={"text": "x" * 301})
    response = decided(
        api, f"ar-{asked.pk}", "rejected", statusReason={"text": "Dr Osei is away, call us"}
    )

    assert too_long.status_code == 422
    assert response.status_code == 200, response.content
    assert response.json()["statusReason"] == {"text": "Dr Osei is away, call us"}
    asked.refresh_from_db()
    assert (asked.status, asked.decline_reason) == (
        AppointmentRequest.Status.DECLINED,
        "Dr Osei is away, call us",
    )
    assert Notification.objects.filter(template="appointment_request_declined").exists()


def test_reads_and_searches_are_audited_with_the_client_as_actor(api, ada, ehr):
    asked = change_request(ada)

    api.get(f"Task/cr-{asked.pk}")
    api.get("Task")

    read = AuditEvent.objects.get(action="fhir.read")
    assert (read.actor, read.acting_for, read.object_id) == (
        ehr.account,
        ada.patient,
        str(asked.pk),
    )
    search = AuditEvent.objects.get(action="fhir.search")
    assert (search.actor, search.details["resource"], search.details["count"]) == (
        ehr.account,
        "Task",
        1,
    )
    assert "Gatineau" not in str(search.details) + str(read.details)


# --- Two record systems at once (PostgreSQL) --------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_decisions_make_one(clinic, monkeypatch):
    """Both PUTs carry the version they read. Without the row lock both would pass the
    If-Match check (the first holds at the barrier for the second) and decide twice;
    with it the second waits, finds the request decided, and is refused."""
    if connection.vendor != "postgresql":
        pytest.skip("needs real row locks across connections; this run uses " + connection.vendor)
    ehr = register(clinic)
    token = get_token(Client(), ehr)
    ada = PatientAccessFactory(patient=PatientFactory(clinic=clinic, city="Ottawa"))
    asked = change_request(ada, city="Gatineau")
    current = Api(token).get(f"Task/cr-{asked.pk}")
    body, version = current.json(), current["ETag"]

    checked = views._check_if_match
    both_checked = threading.Barrier(2)

    def held_check(request, data):
        checked(request, data)
        # The other writer is waiting for the row lock, as it should: the barrier breaks.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait(timeout=1)

    monkeypatch.setattr(views, "_check_if_match", held_check)
    start = threading.Barrier(2)
    statuses, errors = [], []

    def put(change):
        try:
            connection.ensure_connection()
            start.wait(timeout=20)
            answer = Api(token).put(
                f"Task/cr-{asked.pk}", {**body, **change}, **{"If-Match": version}
            )
            statuses.append(answer.status_code)
        except Exception as exc:  # noqa: BLE001 - any error is the failure we look for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    changes = ({"status": "completed"}, {"status": "rejected", "statusReason": {"text": "No"}})
    threads = [threading.Thread(target=put, args=(change,)) for change in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(statuses) == [200, 412]
    decisions = AuditEvent.objects.filter(action__startswith="change_request.").exclude(
        action="change_request.created"
    )
    assert decisions.count() == 1
    assert Notification.objects.filter(template="request_decided").count() == 1
