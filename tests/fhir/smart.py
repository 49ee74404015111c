"""Keys, client assertions and registered clients for the FHIR API's tests.

A client is registered as a clinic admin does (``smart_client_register``) with the
public half of a key made here; ``assertion`` signs what a SMART Backend Services
client sends to the token endpoint."""

import datetime as dt
import json
import uuid
from functools import cache

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils import timezone

from fhir_api.models import SmartClient
from fhir_api.smart import ASSERTION_TYPE, smart_client_register

ALL_SCOPES = (
    "system/Patient.cruds system/Practitioner.rs system/Schedule.rs system/Slot.s "
    "system/Appointment.cruds system/RelatedPerson.rs system/Communication.crs "
    "system/Observation.cruds system/DiagnosticReport.cruds "
    "system/MedicationRequest.cruds system/MedicationStatement.cruds "
    "system/AllergyIntolerance.cruds system/Immunization.cruds system/DocumentReference.cruds"
)
ALL_SCOPES += " system/Task.rus"  # patients' requests: read, search, decide


@cache
def private_key(alg: str = "RS384", name: str = "ehr"):
    """One key per (alg, name) for the whole run (RSA keys are slow to make)."""
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwks(alg: str = "RS384", name: str = "ehr") -> dict:
    algorithm = jwt.get_algorithm_by_name(alg)
    key = json.loads(algorithm.to_jwk(private_key(alg, name).public_key()))
    return {"keys": [{**key, "kid": f"{name}-{alg}", "alg": alg, "use": "sig"}]}


def register(
    clinic,
    *,
    scopes=ALL_SCOPES,
    alg="RS384",
    name="ehr",
    **fields,
) -> SmartClient:
    client = SmartClient(
        name=f"{name.upper()} of {clinic.slug}",
        jwks=public_jwks(alg, name),
        scopes=scopes,
        **fields,
    )
    return smart_client_register(client=client, clinic=clinic)


def token_url(host: str) -> str:
    return f"http://{host}/fhir/R4/auth/token"


def assertion(
    client,
    *,
    aud,
    alg="RS384",
    key_name="ehr",
    lifetime=dt.timedelta(minutes=4),
    jti=None,
    now=None,
    **claims,
) -> str:
    now = now or timezone.now()
    payload = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": aud,
        "exp": int((now + lifetime).timestamp()),
        "jti": jti or uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode(
        payload, private_key(alg, key_name), algorithm=alg, headers={"kid": f"{key_name}-{alg}"}
    )


def token_form(signed: str, scope=ALL_SCOPES) -> dict:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
        "scope": scope,
    }


def get_token(http, client, *, host="demo.localhost", scope=None, **kwargs) -> str:
    """An access token from the token endpoint (``http`` is a Django test client)."""
    signed = assertion(client, aud=token_url(host), **kwargs)
    form = token_form(signed) if scope is None else token_form(signed, scope)
    response = http.post("/fhir/R4/auth/token", form, HTTP_HOST=host)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]
