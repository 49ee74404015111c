"""The API driven by a real FHIR client (fhirpy) against a live server: token → search →
create → update with If-Match → conflict, every resource parsed by fhir.resources; another
clinic's token gets nothing; scopes hold per verb."""

import datetime as dt

import pytest
import requests
from django.test import Client
from fhir.resources.R4B import get_fhir_model_class
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import (
    AuthorizationError,
    ForbiddenError,
    MultipleResourcesFound,
    ResourceNotFound,
)

from tests.factories import (
    AppointmentFactory,
    ClinicDomainFactory,
    PatientFactory,
    PatientIdentifierFactory,
)
from tests.fhir.smart import assertion, get_token, register, token_form

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fhir_base(live_server, clinic, settings):
    """The clinic served on 127.0.0.1 (a custom domain), which needs no name resolution."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    ClinicDomainFactory(clinic=clinic, domain="127.0.0.1")
    return f"http://127.0.0.1:{live_server.url.rsplit(':', 1)[1]}/fhir/R4"


def smart_token(base, client, scope=None, key_name="ehr"):
    form = token_form(assertion(client, aud=f"{base}/auth/token", key_name=key_name))
    if scope:
        form["scope"] = scope
    response = requests.post(f"{base}/auth/token", data=form, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def parsed(resource):
    data = resource.serialize() if hasattr(resource, "serialize") else resource
    return get_fhir_model_class(data["resourceType"]).model_validate(data)


def test_a_record_system_syncs_charts_with_versions(fhir_base, clinic, frozen):
    PatientIdentifierFactory(
        patient=PatientFactory(clinic=clinic, last_name="Martin"), number="1234567890"
    )
    token = smart_token(fhir_base, register(clinic))
    fhir = SyncFHIRClient(fhir_base, authorization=f"Bearer {token}")

    found = (
        fhir.resources("Patient")
        .search(identifier="urn:portal:demo:id:health-card|1234567890")
        .fetch()
    )
    assert [parsed(p).name[0].family for p in found] == ["Martin"]

    rose = fhir.resource(
        "Patient",
        identifier=[{"system": "urn:portal:demo:id:health-card", "value": "5550001111"}],
        name=[{"use": "official", "family": "Tremblay", "given": ["Rose"]}],
        birthDate="1990-04-01",
        gender="female",
    )
    rose.save()
    assert parsed(rose).id
    version = rose["meta"]["versionId"]

    current = SyncFHIRClient(
        fhir_base, authorization=f"Bearer {token}", extra_headers={"If-Match": f'W/"{version}"'}
    )
    rose["name"][0]["family"] = "Tremblay-Roy"
    saved = current.resource("Patient", **rose.serialize())
    saved.save()
    assert parsed(saved).meta.versionId != version

    rose["gender"] = "other"
    stale = current.resource("Patient", **rose.serialize())
    with pytest.raises(MultipleResourcesFound, match="has changed"):  # fhirpy's name for 412
        stale.save()

    again = fhir.reference("Patient", rose.id).to_resource()
    assert (parsed(again).name[0].family, again["gender"]) == ("Tremblay-Roy", "female")


def test_todays_appointments_page_through_every_match(fhir_base, clinic, frozen, now):
    chart = PatientFactory(clinic=clinic)
    for hour in range(5):
        AppointmentFactory(patient=chart, start=now + dt.timedelta(hours=hour))
    fhir = SyncFHIRClient(
        fhir_base, authorization=f"Bearer {smart_token(fhir_base, register(clinic))}"
    )

    visits = fhir.resources("Appointment").search(date="2030-01-15").limit(2).fetch_all()

    assert len(visits) == 5
    assert all(parsed(v).status == "booked" for v in visits)


def test_another_clinics_token_gets_nothing(fhir_base, clinic, other_clinic, frozen):
    chart = PatientFactory(clinic=clinic)
    outsider = register(other_clinic)
    token = get_token(Client(), outsider, host="northside.localhost")
    fhir = SyncFHIRClient(fhir_base, authorization=f"Bearer {token}")

    with pytest.raises(AuthorizationError):
        fhir.resources("Patient").fetch()
    with pytest.raises(AuthorizationError):
        fhir.reference("Patient", chart.pk).to_resource()


def test_another_clinics_records_are_not_found(fhir_base, clinic, other_clinic, frozen):
    theirs = PatientFactory(clinic=other_clinic)
    fhir = SyncFHIRClient(
        fhir_base, authorization=f"Bearer {smart_token(fhir_base, register(clinic))}"
    )

    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", theirs.pk).to_resource()
    assert fhir.resources("Patient").fetch() == []


def test_scopes_hold_per_verb(fhir_base, clinic, frozen):
    PatientFactory(clinic=clinic)
    reader = register(clinic, scopes="system/Patient.rs", name="reader")
    token = smart_token(fhir_base, reader, scope="system/Patient.rs", key_name="reader")
    fhir = SyncFHIRClient(fhir_base, authorization=f"Bearer {token}")

    assert len(fhir.resources("Patient").fetch()) == 1
    with pytest.raises(ForbiddenError):
        fhir.resource(
            "Patient", name=[{"family": "X", "given": ["Y"]}], birthDate="2000-01-01"
        ).save()
    with pytest.raises(ForbiddenError):
        fhir.resources("Appointment").fetch()


def test_refused_assertions_get_no_token(fhir_base, clinic, frozen):
    ehr = register(clinic)
    url = f"{fhir_base}/auth/token"
    replayed = assertion(ehr, aud=url)
    assert requests.post(url, data=token_form(replayed), timeout=10).status_code == 200

    refused = [
        replayed,
        assertion(ehr, aud=url, lifetime=dt.timedelta(seconds=-5)),
        assertion(ehr, aud="http://northside.localhost/fhir/R4/auth/token"),
        assertion(ehr, aud=url, key_name="thief"),
    ]

    assert [requests.post(url, data=token_form(a), timeout=10).status_code for a in refused] == [
        401,
        401,
        401,
        401,
    ]
