"""RelatedPerson: the representatives of a chart (parents, guardians, carers...) as the
portal's grants hold them, read and searched by the clinic's record system."""

import datetime as dt

import pytest
from django.test import Client

from patients.models import PatientAccess
from portal.audit.models import AuditEvent
from tests.factories import PatientAccessFactory, PatientFactory, UserFactory, portal_settings_of
from tests.fhir.smart import get_token, register
from tests.fhir.test_api import Api, parses

pytestmark = pytest.mark.django_db

SCOPE_URL = "urn:portal:fhir:StructureDefinition/representative-scope"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


@pytest.fixture
def ehr(clinic):
    return register(clinic, scopes="system/RelatedPerson.rs", name="people")


@pytest.fixture
def api(frozen, ehr):
    return Api(get_token(Client(), ehr, scope="system/RelatedPerson.rs", key_name="people"))


@pytest.fixture
def child(clinic):
    # Nine on the frozen day (2030-01-15): a parent's grant works.
    return PatientFactory(clinic=clinic, first_name="Mia", date_of_birth=dt.date(2021, 3, 2))


def representative(patient, relationship="parent", **fields):
    user = UserFactory(
        clinic=patient.clinic,
        first_name="Paula",
        last_name="Parent",
        email=f"paula{PatientAccess.objects.count()}@example.com",
        phone="",
    )
    return PatientAccessFactory(patient=patient, user=user, relationship=relationship, **fields)


def ids(bundle):
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def test_a_parent_is_a_related_person_with_the_scopes_of_the_grant(api, ehr, child, frozen):
    PatientAccessFactory(patient=child)  # the child's own account: not a RelatedPerson
    grant = representative(child, can_demographics=False)
    grant.user.phone = "+16135550177"
    grant.user.save()

    response = api.get(f"RelatedPerson/{grant.pk}")

    person = parses(response.json())
    assert person["patient"] == {"reference": f"Patient/{child.pk}"}
    assert person["relationship"] == [
        {"text": "parent", "coding": [{"system": ROLE_CODE, "code": "PRN", "display": "parent"}]}
    ]
    assert person["name"] == [{"family": "Parent", "given": ["Paula"]}]
    assert person["telecom"] == [
        {"system": "email", "value": grant.user.email},
        {"system": "phone", "use": "mobile", "value": "+16135550177"},
    ]
    assert person["active"] is True
    assert person["period"] == {"start": "2030-01-15T14:00:00Z"}
    assert person["extension"] == [
        {"url": SCOPE_URL, "valueCode": "appointments"},
        {"url": SCOPE_URL, "valueCode": "messages"},
        {"url": SCOPE_URL, "valueCode": "health_record"},  # a parent of a child of eight
    ]
    assert response["ETag"] == f'W/"{person["meta"]["versionId"]}"'
    assert ids(api.get("RelatedPerson").json()) == [str(grant.pk)]
    event = AuditEvent.objects.filter(action="fhir.read").get()
    assert (event.actor, event.acting_for) == (ehr.account, child)


def test_a_grant_that_no_longer_works_is_inactive(api, clinic, child, frozen, now):
    adult = PatientFactory(clinic=clinic, date_of_birth=dt.date(2000, 1, 1))
    working = representative(child, "guardian", expires_at=now + dt.timedelta(days=1))
    revoked = representative(child, "carer", revoked_at=now - dt.timedelta(days=1))
    expired = representative(child, "spouse", expires_at=now - dt.timedelta(minutes=1))
    came_of_age = representative(adult, "parent")
    confirmed = representative(adult, "parent", adult_access_confirmed_at=now)
    closed = representative(child, "other")
    closed.user.is_active = False
    closed.user.save()

    entries = api.get("RelatedPerson").json()["entry"]
    everyone = {entry["resource"]["id"]: entry["resource"] for entry in entries}
    active = ids(api.get("RelatedPerson", active="true").json())
    inactive = ids(api.get("RelatedPerson", active="false").json())

    assert {pk for pk, person in everyone.items() if person["active"]} == set(active)
    assert active == [str(working.pk), str(confirmed.pk)]
    assert inactive == [str(g.pk) for g in (revoked, expired, came_of_age, closed)]
    assert everyone[str(revoked.pk)]["period"]["end"] == "2030-01-14T14:00:00Z"
    assert everyone[str(working.pk)]["period"]["end"] == "2030-01-16T14:00:00Z"
    assert everyone[str(revoked.pk)]["relationship"] == [{"text": "carer"}]


def test_the_age_threshold_is_the_clinics(api, clinic, frozen):
    ten_today = PatientFactory(clinic=clinic, date_of_birth=dt.date(2020, 1, 15))
    grant = representative(ten_today)
    assert api.get(f"RelatedPerson/{grant.pk}").json()["active"] is True

    portal_settings_of(clinic, representative_age_threshold=10)

    assert api.get(f"RelatedPerson/{grant.pk}").json()["active"] is False
    assert ids(api.get("RelatedPerson", active="false").json()) == [str(grant.pk)]


def test_the_health_record_scope_follows_the_clinics_rule(api, clinic, child, frozen):
    def health_record(grant):
        extensions = api.get(f"RelatedPerson/{grant.pk}").json().get("extension", [])
        return {"url": SCOPE_URL, "valueCode": "health_record"} in extensions

    parent = representative(child, "parent")
    carer = representative(child, "carer")
    granted = representative(child, "carer", can_health_record=True)
    assert (health_record(parent), health_record(carer), health_record(granted)) == (
        True,
        False,
        True,
    )
    portal_settings_of(clinic, parent_health_record_age=8)  # Mia is eight (nine in March)
    assert (health_record(parent), health_record(granted)) == (False, True)


def test_it_searches_by_patient_and_last_update(api, clinic, child, frozen):
    theirs = representative(child)
    since = api.get(f"RelatedPerson/{theirs.pk}").json()["meta"]["lastUpdated"]
    other = representative(PatientFactory(clinic=clinic))
    frozen.shift(dt.timedelta(seconds=5))
    # Revocation is a bulk update: its history row is what a sync sees.
    PatientAccess.objects.filter(pk=theirs.pk).update(revoked_at=dt.datetime.now(tz=dt.UTC))

    by_patient = api.get("RelatedPerson", patient=f"Patient/{child.pk}").json()
    changed = api.get("RelatedPerson", _lastUpdated=f"gt{since}").json()

    assert ids(by_patient) == [str(theirs.pk)]
    assert ids(changed) == [str(theirs.pk)]
    assert changed["entry"][0]["resource"]["active"] is False
    assert str(other.pk) in ids(api.get("RelatedPerson", _lastUpdated=f"le{since}").json())


def test_another_clinics_representatives_are_not_found(api, other_clinic, frozen):
    theirs = representative(PatientFactory(clinic=other_clinic))

    response = api.get(f"RelatedPerson/{theirs.pk}")

    assert response.status_code == 404
    assert parses(response.json())["issue"][0]["code"] == "not-found"
    assert ids(api.get("RelatedPerson").json()) == []
    assert ids(api.get("RelatedPerson", patient=str(theirs.patient_id)).json()) == []


def test_it_refuses_what_it_does_not_support(api, child):
    grant = representative(child)

    assert api.get("RelatedPerson", name="Paula").status_code == 400
    assert api.get("RelatedPerson", active="yes").status_code == 400
    assert api.get("RelatedPerson", patient="Group/1").status_code == 400
    assert api.http.put(f"/fhir/R4/RelatedPerson/{grant.pk}").status_code == 405
    assert api.post("RelatedPerson", {"resourceType": "RelatedPerson"}).status_code == 405


def test_it_needs_the_related_person_scope(clinic, child, frozen):
    patients_only = register(clinic, scopes="system/Patient.rs", name="charts")
    api = Api(get_token(Client(), patients_only, scope="system/Patient.rs", key_name="charts"))

    assert api.get(f"RelatedPerson/{representative(child).pk}").status_code == 403
    assert api.get("RelatedPerson").status_code == 403


def test_a_page_of_representatives_costs_the_same_for_one_or_many(
    api, clinic, child, frozen, django_assert_num_queries
):
    representative(child)
    with django_assert_num_queries(QUERIES_PER_PAGE):
        one = api.get("RelatedPerson")
    for _ in range(54):
        representative(child, "carer")

    with django_assert_num_queries(QUERIES_PER_PAGE):
        many = api.get("RelatedPerson", _count=60)

    assert len(parses(one.json())["entry"]) == 1
    assert len(parses(many.json())["entry"]) == 55


# The token (with its client and account), the page (grants with their accounts and
# patients, versions and states in one statement) and the audit event; the clinic's
# settings and the rate limit come from the cache.
QUERIES_PER_PAGE = 3
