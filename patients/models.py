import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _
from django_otp.models import DeviceManager, SideChannelDevice
from django_otp.util import random_number_token
from phonenumber_field.modelfields import PhoneNumberField

from clinics.scoping import ClinicOwned, ClinicScopedQuerySet
from portal.core.cache import ReportsUpdates
from portal.core.fields import CanonicalEmailField, CanonicalIdNumberField
from portal.core.history import tracked_history

NOTICE_CHANNELS = [
    ("", _("Automatic (email if on file)")),
    ("email", _("Email")),
    ("sms", _("Text message")),
    ("none", _("Do not send")),
]


class PatientQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates tell the grants' cache (the grants carry the chart)."""


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
    # The clinic's record of the patient's contacts; they sign nobody in (an account's
    # sign-in contacts are on the account).
    email = CanonicalEmailField(_("email"), blank=True)
    mobile = PhoneNumberField(_("mobile"), blank=True)
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    region = models.CharField(_("province or state"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    home_phone = PhoneNumberField(_("home phone"), blank=True)
    emergency_contact_name = models.CharField(_("emergency contact"), max_length=200, blank=True)
    emergency_contact_relationship = models.CharField(
        _("emergency contact's relationship"), max_length=100, blank=True
    )
    emergency_contact_phone = PhoneNumberField(_("emergency contact's phone"), blank=True)
    # The patient's own choices; they apply at once, without review.
    notify_appointments_by = models.CharField(
        _("appointment notices by"), max_length=8, choices=NOTICE_CHANNELS, blank=True
    )
    notify_messages_by = models.CharField(
        _("message notices by"), max_length=8, choices=NOTICE_CHANNELS, blank=True
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
    category = models.ForeignKey(
        "patients.PatientCategory",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("category"),
    )
    self_registered = models.BooleanField(_("self-registered"), default=False)
    portal_revoked_at = models.DateTimeField(_("portal access revoked"), null=True, blank=True)
    portal_revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("portal access revoked by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    objects = PatientQuerySet.as_manager()
    history = tracked_history()

    class Meta:
        # Also the manager Django's cascades use (a deleted provider or account is set to
        # NULL on its charts with an update), so those updates drop the cached grants too.
        base_manager_name = "objects"
        ordering = ["last_name", "first_name", "id"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        permissions = [
            ("revoke_portal_access", _("Can revoke patient portal access")),
            ("import_charts", _("Can import charts from a file")),
        ]
        indexes = [
            models.Index(fields=["clinic", "last_name", "first_name"]),
            # Staff search by phone (stored E.164) and date of birth: one probe each
            # (patients.selectors.search_charts).
            models.Index(fields=["clinic", "mobile"], name="patient_clinic_mobile"),
            models.Index(fields=["clinic", "home_phone"], name="patient_clinic_home_phone"),
            models.Index(fields=["clinic", "date_of_birth"], name="patient_clinic_dob"),
        ]

    def __str__(self):
        return f"{self.last_name}, {self.first_name}"

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"

    @property
    def portal_eligible(self):
        return self.category is None or self.category.portal_eligible

    def age_on(self, day) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


class PatientIdentifier(ClinicOwned):
    """An ID (type + number) on a chart; unique per clinic and type."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers")
    id_type = models.ForeignKey(
        "clinics.IdentifierType", on_delete=models.PROTECT, verbose_name=_("ID type")
    )
    number = CanonicalIdNumberField(_("number"), max_length=64)

    history = tracked_history()

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


class PatientCategoryQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates tell the grants' cache."""


class PatientCategory(ClinicOwned):
    """A group of charts the clinic may exclude from the portal (e.g. "Walk-in only")."""

    name = models.CharField(_("name"), max_length=100)
    portal_eligible = models.BooleanField(_("eligible for the portal"), default=True)

    objects = PatientCategoryQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("patient category")
        verbose_name_plural = _("patient categories")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="unique_category_name")
        ]

    def __str__(self):
        return self.name


class PatientAccessQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates (revocation ends grants this way) tell the grants' cache."""

    update_report_fields = ("pk", "clinic_id", "user_id")

    def active(self, at=None):
        at = at or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=at)
        )


class PatientAccess(ClinicOwned):
    """A grant: this portal account may reach this chart (as the patient or for them)."""

    class Relationship(models.TextChoices):
        SELF = "self", _("Self")
        PARENT = "parent", _("Parent")
        GUARDIAN = "guardian", _("Guardian")
        CARER = "carer", _("Carer")
        SPOUSE = "spouse", _("Spouse")
        OTHER = "other", _("Other")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient_access"
    )
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="access_grants")
    relationship = models.CharField(
        _("relationship"), max_length=10, choices=Relationship.choices, default="self"
    )
    can_appointments = models.BooleanField(_("appointments"), default=True)
    can_messages = models.BooleanField(_("messages"), default=True)
    can_demographics = models.BooleanField(_("demographics"), default=True)
    can_health_record = models.BooleanField(
        _("health record"),
        default=False,
        help_text=_(
            "Results, medications, allergies, immunizations and documents. A parent or "
            "guardian sees a young child's health record without this, up to the age the "
            "clinic set; tick it for anyone else, or for a parent of an older child."
        ),
    )
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("granted"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    adult_access_confirmed_at = models.DateTimeField(
        _("access confirmed after the patient came of age"),
        null=True,
        blank=True,
        help_text=_(
            "A parent's or guardian's access ends at the clinic's age threshold "
            "unless the patient or staff renew it."
        ),
    )

    objects = PatientAccessQuerySet.as_manager()
    history = tracked_history()

    HEALTH_RECORD = "health_record"
    SCOPES = ("appointments", "messages", "demographics", HEALTH_RECORD)

    @property
    def acts_for_someone_else(self):
        return self.relationship != self.Relationship.SELF

    def allows(self, scope: str, *, policy=None, today=None) -> bool:
        """Whether the grant covers ``scope``. The health record depends on the clinic's
        policy and the patient's age today (``health_record_allowed``): ``policy`` (the
        clinic's PortalSettings) and ``today`` default to the grant's clinic's and the
        current date."""
        if scope not in self.SCOPES:
            raise ValueError(scope)
        if not self.acts_for_someone_else:
            return True
        if scope == self.HEALTH_RECORD:
            return self.health_record_allowed(
                policy=policy if policy is not None else self.clinic.portal_settings,
                today=today if today is not None else timezone.localdate(),
            )
        return getattr(self, f"can_{scope}")

    def health_record_allowed(self, *, policy, today) -> bool:
        """The one rule of who sees the patient's health record through this grant:
        the patient; anyone staff granted the health record to (``can_health_record``);
        and a parent or guardian while the patient is younger than the clinic's age for
        it (``PortalSettings.health_record_age_for_parents``). Every page, download, copy,
        notice and API answer about the health record asks this."""
        if not self.acts_for_someone_else or self.can_health_record:
            return True
        if self.relationship not in (self.Relationship.PARENT, self.Relationship.GUARDIAN):
            return False
        return self.patient.age_on(today) < policy.health_record_age_for_parents()

    # For templates, which cannot pass arguments.
    @property
    def allows_appointments(self):
        return self.allows("appointments")

    @property
    def allows_messages(self):
        return self.allows("messages")

    @property
    def allows_demographics(self):
        return self.allows("demographics")

    @property
    def allows_health_record(self):
        return self.allows(self.HEALTH_RECORD)

    def ended_by_age(self, *, threshold: int, today) -> bool:
        """A parent's or guardian's grant stops when the child comes of age."""
        return (
            self.relationship in (self.Relationship.PARENT, self.Relationship.GUARDIAN)
            and self.adult_access_confirmed_at is None
            and self.patient.age_on(today) >= threshold
        )

    class Meta:
        verbose_name = _("portal access")
        verbose_name_plural = _("portal access")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "patient"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_grant_per_user_and_patient",
            )
        ]

    def __str__(self):
        return f"{self.user} → {self.patient} ({self.get_relationship_display()})"


class VerificationRequest(ClinicOwned):
    """Someone proved a contact that is not the one on the chart whose ID they gave.

    Nothing of the chart is shown to them; front-desk staff accept (the account is
    linked) or decline (the person is told).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(
        _("proven contact type"),
        max_length=8,
        choices=[("email", _("Email")), ("sms", _("Mobile"))],
    )
    destination = models.CharField(_("proven contact"), max_length=254)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["status", "-created_at"]
        verbose_name = _("identity verification request")
        verbose_name_plural = _("identity verification requests")
        indexes = [
            models.Index(
                fields=["clinic", "created_at"],
                condition=models.Q(status="pending"),
                name="verification_pending_idx",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "user"],
                condition=models.Q(status="pending"),
                name="one_pending_verification",
            )
        ]

    def __str__(self):
        return f"{self.patient} · {self.get_status_display()}"


def _code_digest(device_pk, code: str) -> str:
    return salted_hmac("patients.passcode", f"{device_pk}:{code}", algorithm="sha256").hexdigest()


class PasscodeDevice(SideChannelDevice):
    """A one-time passcode sent to an email address or mobile number (django-otp device).

    Bound to one purpose and one pending sign-in (``flow``). The code is stored only as
    an HMAC, compared in constant time, single use, and dies after ``MAX_CODE_TRIES``
    wrong tries. Verify it with ``patients.passcodes.passcode_verify`` (row lock).
    """

    MAX_CODE_TRIES = 5

    class Purpose(models.TextChoices):
        SIGN_IN = "signin", _("Sign-in")
        CONTACT_CHANGE = "contact", _("Contact change")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text=_("Set when the code is for a known account."),
    )
    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64, blank=True, null=True)
    flow = models.UUIDField(default=uuid.uuid4, db_index=True)
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    channel = models.CharField(max_length=8)
    destination = models.CharField(max_length=254)
    failed_tries = models.PositiveSmallIntegerField(default=0)
    sends = models.PositiveSmallIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # When a code sent here was typed back: the destination is proven (a contact change
    # that staff accept moves the sign-in contact only to a proven destination).
    proven_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = DeviceManager.from_queryset(ClinicScopedQuerySet)()

    class Meta:
        verbose_name = _("passcode device")

    def issue_code(self, *, valid_secs: int) -> str:
        """A new 6-digit code from a CSPRNG; only its HMAC is kept. Returns the code."""
        code = random_number_token(6)
        self.token = _code_digest(self.pk, code)
        self.valid_until = timezone.now() + timedelta(seconds=valid_secs)
        self.failed_tries = 0
        self.save(update_fields=["token", "valid_until", "failed_tries"])
        return code

    def code_matches(self, code: str) -> bool:
        if not self.token or timezone.now() >= self.valid_until:
            return False
        if self.failed_tries >= self.MAX_CODE_TRIES:
            return False
        return constant_time_compare(_code_digest(self.pk, (code or "").strip()), self.token)

    def verify_token(self, token):
        # Verification always goes through passcode_verify (locks, counts, audit).
        raise NotImplementedError("use patients.passcodes.passcode_verify")


class SignInLock(models.Model):
    """Consecutive failed sign-in proofs for one subject (an account, an ID + contact, or
    the source of the attempts).

    Every 10 failures in a row → a 15-minute cool-off; 100 from one source → locked until
    staff unlock it (``patients.locks``). Sending a new code never resets it; only a
    successful proof or a staff unlock does.
    """

    COOL_OFF_EVERY = 10
    HARD_LOCK_AT = 100
    COOL_OFF = timedelta(minutes=15)

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    hard_locked = models.BooleanField(_("locked until staff unlock"), default=False)
    last_method = models.CharField(
        _("last failed proof"),
        max_length=16,
        blank=True,
        choices=[
            ("passcode", _("One time passcode")),
            ("password", _("Password")),
            ("authenticator", _("Authenticator code")),
            ("recovery_code", _("Recovery code")),
        ],
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("sign-in lock")
        verbose_name_plural = _("sign-in locks")
        indexes = [
            models.Index(
                fields=["clinic", "updated_at"],
                condition=models.Q(hard_locked=True),
                name="signinlock_hard_idx",
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "subject"], name="unique_lock_subject")
        ]

    def __str__(self):
        return (
            str(self.user)
            if self.user_id
            else _("ID and contact %(subject)s") % {"subject": self.subject[:8]}
        )

    def is_locked(self, at=None):
        at = at or timezone.now()
        return self.hard_locked or (self.locked_until is not None and self.locked_until > at)


class ChangeRequestQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates tell the caches of the chart's figures."""

    update_report_fields = ("clinic_id", "patient_id")


class ChangeRequest(ClinicOwned):
    """An entry in the clinic's Patient Requests queue.

    ``change``: a patient asks to change chart details (one item per field);
    ``registration``: the details a new patient gave when self-registering;
    ``verification``: someone proved a contact that is not on the chart they named.
    Staff accept or decline; only an accepted item ever touches the chart.
    """

    class Kind(models.TextChoices):
        CHANGE = "change", _("Change of details")
        REGISTRATION = "registration", _("New registration")
        VERIFICATION = "verification", _("Identity confirmation")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        PARTLY = "partly", _("Partly accepted")
        DECLINED = "declined", _("Declined")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        LINKED = "linked", _("Linked to an existing chart")

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="change_requests")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.CHANGE)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    verification = models.OneToOneField(
        VerificationRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="queue"
    )
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decline_reason = models.CharField(_("reason for declining"), max_length=500, blank=True)
    # A registration staff attached to a chart the clinic already had (instead of the
    # new chart it made): ``patients.demographics.registration_link_to_chart``.
    linked_chart = models.ForeignKey(
        Patient,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("linked to chart"),
    )

    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("patient request")
        verbose_name_plural = _("Patient Requests")
        indexes = [models.Index(fields=["clinic", "status", "-created_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.patient}"

    @property
    def is_pending(self):
        return self.status == self.Status.PENDING


class ChangeRequestItem(ClinicOwned):
    """One field of a change request: what the chart said when asked, what is proposed."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")

    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="items")
    field = models.CharField(_("field"), max_length=64)
    old_value = models.CharField(_("in the chart when asked"), max_length=500, blank=True)
    new_value = models.CharField(_("proposed"), max_length=500, blank=True)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("requested change")
        verbose_name_plural = _("requested changes")

    def __str__(self):
        return self.field


class RecoveryCode(models.Model):
    """One of the ten single-use codes that stand in for an account's authenticator
    (``patients.recovery``). Only an HMAC of the code is kept (see there why not a
    password hash); a used code keeps its row, with when it was used."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("recovery code")
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="unique_recovery_code")
        ]

    def __str__(self):
        return str(_("Recovery code"))


class TermsAcceptance(ClinicOwned):
    """An account accepted a version of its clinic's portal terms, at ``accepted_at``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="terms_acceptances"
    )
    terms = models.ForeignKey("clinics.PortalTerms", on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("terms acceptance")
        ordering = ["-accepted_at"]
        indexes = [models.Index(fields=["user", "-accepted_at"], name="terms_acceptance_latest")]

    def __str__(self):
        return str(_("Terms accepted"))
