from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.scoping import ClinicOwned
from patients.models import PatientAccess
from portal.core.tokens import SingleUseLink
from portal.notifications.models import Notification


class Invitation(SingleUseLink, ClinicOwned):
    """A registration link sent by staff to a patient, or to someone acting for them.

    The link's token is random and stored only as its SHA-256; it is made when the
    message renders. A link works once, until ``expires_at``, and only while it is the
    newest one for that patient and person, and the clinic has not revoked it.
    """

    class State(models.TextChoices):
        VALID = "valid", _("Valid")
        EXPIRED = "expired", _("Expired")
        USED = "used", _("Used")
        SUPERSEDED = "superseded", _("Replaced by a newer invitation")
        REVOKED = "revoked", _("Revoked")

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="invitations"
    )
    relationship = models.CharField(
        _("relationship"),
        max_length=10,
        choices=PatientAccess.Relationship.choices,
        default=PatientAccess.Relationship.SELF,
    )
    representative_name = models.CharField(_("representative's name"), max_length=200, blank=True)
    can_appointments = models.BooleanField(_("appointments"), default=True)
    can_messages = models.BooleanField(_("messages"), default=True)
    can_demographics = models.BooleanField(_("demographics"), default=True)
    can_health_record = models.BooleanField(_("health record"), default=False)
    channel = models.CharField(_("sent via"), max_length=8, choices=Notification.Channel.choices)
    destination = models.CharField(_("sent to"), max_length=254)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    dob_failures = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("sent by"),
    )
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    MAX_DOB_FAILURES = 5

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [models.Index(fields=["clinic", "patient", "-created_at"])]

    def __str__(self):
        return f"{self.patient} · {self.get_state_display()}"

    @property
    def for_representative(self):
        return self.relationship != "self"

    def revoked(self) -> bool:
        # Too many wrong dates of birth end the link as a revocation would.
        return bool(self.revoked_at) or self.dob_failures >= self.MAX_DOB_FAILURES
