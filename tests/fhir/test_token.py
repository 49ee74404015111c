"""The token endpoint (SMART Backend Services): a signed client assertion buys a
five-minute access token bound to the clinic; anything else is refused."""

import datetime as dt

import jwt
import pytest
import time_machine
from django.test import Client

from fhir_api.models import AccessToken, UsedAssertion
from fhir_api.smart import digest
from tests.fhir.smart import assertion, register, token_form, token_url

HOST = "demo.localhost"
pytestmark = pytest.mark.django_db


def post(form, host=HOST):
    return Client().post("/fhir/R4/auth/token", form, HTTP_HOST=host)


@pytest.fixture
def ehr(clinic):
    return register(clinic)


def test_it_issues_a_five_minute_token_for_a_signed_assertion(ehr):
    response = post(token_form(assertion(ehr, aud=token_url(HOST))))

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert response["Cache-Control"].startswith("no-store")
    stored = AccessToken.objects.get()
    assert stored.digest == digest(body["access_token"])
    assert body["access_token"] not in str(AccessToken.objects.values_list())
    assert stored.clinic_id == ehr.clinic_id


def test_it_accepts_es384_keys(clinic):
    ehr = register(clinic, alg="ES384", name="engine")
    signed = assertion(ehr, aud=token_url(HOST), alg="ES384", key_name="engine")

    assert post(token_form(signed)).status_code == 200


def test_it_grants_only_the_scopes_the_client_is_allowed(clinic):
    ehr = register(clinic, scopes="system/Patient.rs")
    form = token_form(
        assertion(ehr, aud=token_url(HOST)), scope="system/Patient.cruds system/Appointment.rs"
    )

    assert post(form).json()["scope"] == "system/Patient.rs"


def test_it_refuses_scopes_the_client_holds_none_of(clinic):
    ehr = register(clinic, scopes="system/Patient.rs")
    form = token_form(assertion(ehr, aud=token_url(HOST)), scope="system/Appointment.c")

    response = post(form)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_it_refuses_a_replayed_assertion(ehr):
    signed = assertion(ehr, aud=token_url(HOST), jti="once")
    assert post(token_form(signed)).status_code == 200

    response = post(token_form(signed))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert AccessToken.objects.count() == 1
    assert UsedAssertion.objects.filter(jti="once").count() == 1


def test_it_refuses_an_expired_assertion(ehr):
    signed = assertion(ehr, aud=token_url(HOST), lifetime=dt.timedelta(seconds=-1))

    assert post(token_form(signed)).status_code == 401


def test_it_refuses_an_assertion_that_lives_longer_than_five_minutes(ehr):
    signed = assertion(ehr, aud=token_url(HOST), lifetime=dt.timedelta(hours=1))

    assert post(token_form(signed)).status_code == 401


@pytest.mark.parametrize(
    "aud",
    [
        token_url("northside.localhost"),
        "http://demo.localhost/fhir/R4/",
        "http://demo.localhost/fhir/R4/auth/token/",
    ],
)
def test_it_refuses_an_assertion_for_another_audience(ehr, aud):
    assert post(token_form(assertion(ehr, aud=aud))).status_code == 401


def test_it_refuses_an_assertion_signed_with_another_key(ehr):
    forged = assertion(ehr, aud=token_url(HOST), key_name="thief")

    assert post(token_form(forged)).status_code == 401


def test_it_refuses_an_unsigned_assertion(ehr):
    unsigned = jwt.encode(
        {
            "iss": ehr.client_id,
            "sub": ehr.client_id,
            "aud": token_url(HOST),
            "exp": 2**40,
            "jti": "x",
        },
        key=None,
        algorithm="none",
    )

    assert post(token_form(unsigned)).status_code == 401


def test_it_refuses_another_clinics_client_on_this_clinics_host(other_clinic, clinic):
    outsider = register(other_clinic)

    response = post(token_form(assertion(outsider, aud=token_url(HOST))))

    assert response.status_code == 401


def test_it_refuses_a_deactivated_client(ehr):
    ehr.is_active = False
    ehr.save()

    assert post(token_form(assertion(ehr, aud=token_url(HOST)))).status_code == 401


def test_it_refuses_other_grant_types(ehr):
    form = {**token_form(assertion(ehr, aud=token_url(HOST))), "grant_type": "password"}

    assert post(form).json() == {"error": "unsupported_grant_type"}


def test_a_token_stops_working_after_five_minutes(ehr):
    token = post(token_form(assertion(ehr, aud=token_url(HOST)))).json()["access_token"]
    api = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/fhir/R4/Patient").status_code == 200

    with time_machine.travel(dt.timedelta(minutes=5, seconds=1)):
        response = api.get("/fhir/R4/Patient")

    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_client_account_can_never_sign_in(ehr):
    assert not ehr.account.is_active
    assert not ehr.account.has_usable_password()
    assert ehr.account.clinic_id == ehr.clinic_id


def test_smart_configuration_names_the_clinics_token_endpoint(clinic):
    response = Client().get("/fhir/R4/.well-known/smart-configuration", HTTP_HOST=HOST)

    body = response.json()
    assert body["token_endpoint"] == token_url(HOST)
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert body["grant_types_supported"] == ["client_credentials"]
