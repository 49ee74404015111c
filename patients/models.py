from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from clinics.scoping import ClinicOwned


class Patient(ClinicOwned):
    """A chart at one clinic: the demographics the clinic keeps."""

    class Sex(models.TextChoices):
        FEMALE = "F", _("Female")
        MALE = "M", _("Male")
        INTERSEX = "X", _("Intersex or another sex")
        UNKNOWN = "U", _("Prefer not to say")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PENDING = "pending", _("Self-registered, pending verification")
        INACTIVE = "inactive", _("Inactive")

    first_name = models.CharField(_("legal first name"), max_length=150)
    last_name = models.CharField(_("legal last name"), max_length=150)
    date_of_birth = models.DateField(_("date of birth"))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    email = models.EmailField(_("email"), blank=True)
    mobile = PhoneNumberField(_("mobile"), blank=True)
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    region = models.CharField(_("province or state"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    primary_provider = models.ForeignKey(
        "appointments.Provider",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("primary provider"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        indexes = [models.Index(fields=["clinic", "last_name", "first_name"])]

    def __str__(self):
        return f"{self.last_name}, {self.first_name}"

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"


class PatientIdentifier(ClinicOwned):
    """An ID (type + number) on a chart; unique per clinic and type."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers")
    id_type = models.ForeignKey(
        "clinics.IdentifierType", on_delete=models.PROTECT, verbose_name=_("ID type")
    )
    number = models.CharField(_("number"), max_length=64)

    class Meta:
        verbose_name = _("identifier")
        verbose_name_plural = _("identifiers")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "id_type", "number"], name="unique_identifier_per_clinic"
            )
        ]

    def __str__(self):
        return f"{self.id_type}: {self.number}"

    @staticmethod
    def normalise(number: str) -> str:
        """Identifiers are compared without spaces, dashes or case."""
        return "".join(ch for ch in number.upper() if ch.isalnum())

    def save(self, *args, **kwargs):
        self.number = self.normalise(self.number)
        super().save(*args, **kwargs)
