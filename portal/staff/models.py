from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.models import User
from clinics.roles import CLINIC_ADMIN, FRONT_DESK, ROLE_LABELS
from clinics.scoping import ClinicOwned
from portal.core.fields import CanonicalEmailField
from portal.core.tokens import SingleUseLink


class StaffMember(User):
    """A clinic's staff account as its clinic admins see it in the clinic admin: sign-in
    lock, second factor and sessions, never the account's password or roles (operators
    manage those)."""

    class Meta:
        proxy = True
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")


class StaffInvitation(SingleUseLink, ClinicOwned):
    """A link that lets a new staff member of a clinic choose their own password.

    Sent by a clinic admin (or, for a clinic admin, by a platform operator) to an email
    address. The link's token is random and stored only as its SHA-256; it is made when
    the email renders. A link works once, until ``expires_at``, on its clinic's host
    only, and only while it is the newest for that address and nobody revoked it. The
    account is made when the link is used (``portal.staff.onboarding``).
    """

    class Role(models.TextChoices):
        FRONT_DESK = FRONT_DESK, ROLE_LABELS[FRONT_DESK]
        CLINIC_ADMIN = CLINIC_ADMIN, ROLE_LABELS[CLINIC_ADMIN]

    class State(models.TextChoices):
        VALID = "valid", _("Waiting to be used")
        EXPIRED = "expired", _("Expired")
        USED = "used", _("Used")
        SUPERSEDED = "superseded", _("Replaced by a newer invitation")
        REVOKED = "revoked", _("Revoked")

    email = CanonicalEmailField(_("email"))
    username = models.CharField(_("username"), max_length=150)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
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
        verbose_name=_("account"),
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("staff invitation")
        verbose_name_plural = _("staff invitations")
        indexes = [models.Index(fields=["clinic", "email", "-created_at"])]

    def __str__(self):
        return f"{self.username} · {self.get_state_display()}"
