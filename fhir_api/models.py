"""The clinic's connections to its record system: SMART Backend Services clients, the
access tokens issued to them (digests only), the client assertions already used, and
the FHIR identifier system of each ID type."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.scoping import ClinicOwned


def _new_client_id():
    return secrets.token_urlsafe(24)


# What a client may be granted: SMART v2 system scopes, per resource type, with the
# verbs c(reate) r(ead) u(pdate) d(elete) s(earch).
SCOPE_RESOURCES = (
    *("Patient", "Practitioner", "Schedule", "Slot", "Appointment"),
    *("RelatedPerson", "Communication"),
    "Task",  # patients' requests, read (system/Task.rs) and decided (system/Task.u)
    # The health record's resources (fhir_api.health_record).
    "Observation",
    "DiagnosticReport",
    "MedicationRequest",
    "MedicationStatement",
    "AllergyIntolerance",
    "Immunization",
    "DocumentReference",
)
SCOPE_VERBS = "cruds"


def validate_scopes(value: str) -> None:
    for scope in value.split():
        prefix, _slash, rest = scope.partition("/")
        resource, _dot, verbs = rest.partition(".")
        if (
            prefix != "system"
            or resource not in (*SCOPE_RESOURCES, "*")
            or not verbs
            or any(v not in SCOPE_VERBS for v in verbs)
            or "".join(sorted(set(verbs), key=SCOPE_VERBS.index)) != verbs
        ):
            raise ValidationError(
                _("%(scope)s is not a SMART v2 system scope this portal offers."),
                params={"scope": scope},
            )


def validate_jwks(value) -> None:
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValidationError(_('Paste a JSON Web Key Set: {"keys": [...]}.'))
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise ValidationError(_("Each key must be an RSA or EC public key."))
        if "d" in key:
            raise ValidationError(_("Paste the public keys only, never a private key."))


class SmartClient(ClinicOwned):
    """A system of the clinic (its EHR, an integration engine) that may call the API."""

    name = models.CharField(_("name"), max_length=200)
    client_id = models.CharField(
        _("client ID"), max_length=64, unique=True, default=_new_client_id, editable=False
    )
    jwks = models.JSONField(
        _("public keys (JWKS)"),
        validators=[validate_jwks],
        help_text=_("The client's JSON Web Key Set, public keys only (RS384 or ES384)."),
    )
    scopes = models.TextField(
        _("allowed scopes"),
        validators=[validate_scopes],
        help_text=_("SMART v2 system scopes, separated by spaces, e.g. system/Patient.rs"),
    )
    requests_per_minute = models.PositiveIntegerField(_("requests per minute"), default=600)
    is_active = models.BooleanField(_("active"), default=True)
    # The client's actor in the audit log and in the history of the records it changes:
    # an account that can never sign in.
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        null=True,
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("record system client")
        verbose_name_plural = _("record system clients")

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        """A change of the client's scopes, keys or active flag ends every access token
        issued before it: a narrowed, re-keyed or reactivated client starts afresh."""
        before = (
            SmartClient.objects.for_clinic(self.clinic_id)
            .filter(pk=self.pk)
            .values("scopes", "jwks", "is_active")
            .first()
            if self.pk
            else None
        )
        super().save(*args, **kwargs)
        if before is not None and before != {
            "scopes": self.scopes,
            "jwks": self.jwks,
            "is_active": self.is_active,
        }:
            AccessToken.objects.for_clinic(self.clinic_id).filter(client=self).delete()


class AccessToken(ClinicOwned):
    """An access token issued to a client; only its SHA-256 digest is stored."""

    client = models.ForeignKey(SmartClient, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.TextField()
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"token of {self.client_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class UsedAssertion(models.Model):
    """A client assertion's ``jti``, kept until the assertion expires: a replay fails."""

    client = models.ForeignKey(SmartClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "jti"], name="unique_assertion_jti")
        ]

    def __str__(self):
        return f"{self.client_id}:{self.jti}"


class IdentifierSystem(ClinicOwned):
    """The FHIR ``Identifier.system`` URI of one of the clinic's ID types."""

    id_type = models.OneToOneField(
        "clinics.IdentifierType",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("ID type"),
    )
    system = models.CharField(
        _("system URI"),
        max_length=255,
        help_text=_("e.g. https://health.gov.on.ca/ohip or urn:oid:2.16.840.1.113883.4.59"),
    )

    class Meta:
        verbose_name = _("identifier system")
        verbose_name_plural = _("identifier systems")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "system"], name="unique_system_per_clinic")
        ]

    def __str__(self):
        return self.system
