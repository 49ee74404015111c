"""SMART Backend Services: registering a client, issuing access tokens for a signed
client assertion (``private_key_jwt``), and reading a bearer token back.

Access tokens live five minutes, belong to one clinic and one client, and are stored
only as a SHA-256 digest. A client assertion's ``jti`` is kept until the assertion
expires, so a replayed assertion is refused.
"""

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass

import jwt
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinics.models import Clinic, User
from fhir_api.models import AccessToken, SmartClient, UsedAssertion
from portal.audit.services import audit_record

TOKEN_LIFETIME = dt.timedelta(minutes=5)
# An assertion may not be valid for longer than this (SMART Backend Services).
ASSERTION_MAX_LIFETIME = dt.timedelta(minutes=5)
ALGORITHMS = ["RS384", "ES384"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JTI_MAX_LENGTH = 255  # UsedAssertion.jti


class TokenRefused(Exception):  # noqa: N818 - an OAuth error response
    """``error`` is the OAuth 2.0 error code; ``description`` says why, without secrets."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    scope: str
    expires_in: int


def smart_client_register(*, client: SmartClient, clinic: Clinic) -> SmartClient:
    """Save a new client with its own account (the actor of everything it does), which
    has no usable password and is inactive, so it can never sign in anywhere."""
    with transaction.atomic():
        account = User(
            clinic=clinic,
            username=f"api-client-{client.client_id}",
            first_name=client.name[:150],
            last_name="(API)",
            is_active=False,
        )
        account.set_unusable_password()
        account.save()
        client.clinic = clinic
        client.account = account
        client.save()
    return client


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def granted_scopes(requested: str, allowed: str) -> str:
    """The part of ``requested`` the client's ``allowed`` scopes cover, verb by verb."""
    allowed_verbs: dict[str, set[str]] = {}
    for scope in allowed.split():
        resource, _dot, verbs = scope.removeprefix("system/").partition(".")
        allowed_verbs.setdefault(resource, set()).update(verbs)
    granted = []
    for scope in requested.split():
        if not scope.startswith("system/"):
            continue
        resource, _dot, verbs = scope.removeprefix("system/").partition(".")
        may = allowed_verbs.get(resource, set()) | allowed_verbs.get("*", set())
        kept = "".join(v for v in "cruds" if v in verbs and v in may)
        if kept:
            granted.append(f"system/{resource}.{kept}")
    return " ".join(granted)


def _client_key(client: SmartClient, kid: str | None):
    keys = client.jwks.get("keys", [])
    if kid is not None:
        keys = [k for k in keys if k.get("kid") == kid]
    if len(keys) != 1:
        raise TokenRefused("invalid_client", "no single key of the client matches the kid")
    return jwt.PyJWK(keys[0]).key


def token_issue(
    *, clinic: Clinic, assertion: str, token_url: str, scope: str, request=None
) -> IssuedToken:
    """Check a client assertion and issue an access token for the scopes asked for that
    the client is allowed. Refusals raise TokenRefused; each issue is audited."""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise TokenRefused("invalid_client", "the client assertion is not a JWT") from exc
    client_id = unverified.get("iss")
    client = (
        SmartClient.objects.for_clinic(clinic)
        .filter(client_id=client_id, is_active=True)
        .select_related("account")
        .first()
        if isinstance(client_id, str)
        else None
    )
    if client is None:
        raise TokenRefused("invalid_client", "unknown client")
    if header.get("alg") not in ALGORITHMS:
        raise TokenRefused("invalid_client", "the assertion must be signed with RS384 or ES384")
    try:
        key = _client_key(client, header.get("kid"))
        claims = jwt.decode(
            assertion,
            key,
            algorithms=ALGORITHMS,
            audience=token_url,
            issuer=client.client_id,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except (jwt.PyJWTError, json.JSONDecodeError, ValueError, TypeError) as exc:
        raise TokenRefused("invalid_client", f"the client assertion is not valid: {exc}") from exc
    now = timezone.now()
    expires = dt.datetime.fromtimestamp(claims["exp"], tz=dt.UTC)
    if claims["sub"] != client.client_id:
        raise TokenRefused("invalid_client", "sub must be the client ID")
    if expires > now + ASSERTION_MAX_LIFETIME + dt.timedelta(seconds=30):
        raise TokenRefused("invalid_client", "the assertion may live five minutes at most")
    jti = str(claims["jti"])
    if not jti or len(jti) > JTI_MAX_LENGTH:
        raise TokenRefused("invalid_client", f"jti must be 1 to {JTI_MAX_LENGTH} characters")
    granted = granted_scopes(scope, client.scopes)
    if not granted:
        raise TokenRefused("invalid_scope", "none of the scopes asked for is allowed")
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            UsedAssertion.objects.filter(client=client, expires_at__lt=now).delete()
            UsedAssertion.objects.create(client=client, jti=jti, expires_at=expires)
            AccessToken.objects.filter(client=client, expires_at__lt=now).delete()
            AccessToken.objects.create(
                clinic=clinic,
                client=client,
                digest=digest(token),
                scopes=granted,
                expires_at=now + TOKEN_LIFETIME,
            )
            audit_record(
                action="fhir.token_issued",
                clinic=clinic,
                actor=client.account,
                request=request,
                details={"client": client.name, "scopes": granted},
            )
    except IntegrityError as exc:
        raise TokenRefused("invalid_client", "this assertion was already used") from exc
    return IssuedToken(token, granted, int(TOKEN_LIFETIME.total_seconds()))


def token_authenticate(*, clinic: Clinic, bearer: str) -> AccessToken | None:
    """The live access token of an active client of ``clinic``, or None."""
    if not bearer:
        return None
    return (
        AccessToken.objects.for_clinic(clinic)
        .filter(
            digest=digest(bearer),
            expires_at__gt=timezone.now(),
            client__is_active=True,
        )
        .select_related("client", "client__account")
        .first()
    )


def allows(token: AccessToken, resource: str, verb: str) -> bool:
    """Whether ``token`` may ``verb`` a ``resource``: within the scopes it was granted
    and the scopes its client is allowed now (an admin may have narrowed them since)."""
    for scope in granted_scopes(token.scopes, token.client.scopes).split():
        scoped, _dot, verbs = scope.removeprefix("system/").partition(".")
        if scoped in (resource, "*") and verb in verbs:
            return True
    return False
