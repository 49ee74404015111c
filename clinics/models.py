import secrets
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from clinics.colours import readable_accent
from clinics.scoping import ClinicOwned, ClinicScopedQuerySet
from portal.core.cache import ReportsUpdates
from portal.core.fields import CanonicalEmailField
from portal.core.history import tracked_history

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    _("Lowercase letters, digits and hyphens only; it becomes the clinic's subdomain."),
)
colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour like #1d6fa5."))

TIME_ZONE_CHOICES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


class Clinic(models.Model):
    """The tenant. Reached at ``<slug>.<PORTAL_BASE_DOMAIN>`` or a registered custom domain."""

    slug = models.CharField(_("subdomain"), max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(_("name"), max_length=200)
    display_name = models.CharField(
        _("display name"), max_length=200, blank=True, help_text=_("Shown to patients.")
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="America/Toronto"
    )
    country = models.CharField(
        _("country"),
        max_length=2,
        default="CA",
        help_text=_("Two-letter country code, used to read local phone numbers."),
    )
    # Stored in E.164; staff type it the way the clinic's country writes it (the admin's
    # form reads it with ``country`` as the region).
    phone = PhoneNumberField(_("clinic phone"), blank=True)
    address = models.CharField(
        _("address"),
        max_length=300,
        blank=True,
        help_text=_("Where patients come for their appointments, on one line."),
    )
    notification_email = models.EmailField(
        _("notification email"), blank=True, help_text=_("Where staff are told of new activity.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    logo = models.ImageField(_("logo"), upload_to="clinic-logos/", blank=True)
    accent_colour = models.CharField(
        _("accent colour"), max_length=7, default="#1d6fa5", validators=[colour_validator]
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("clinic")
        verbose_name_plural = _("clinics")

    def __str__(self):
        return self.name

    @property
    def public_name(self):
        return self.display_name or self.name

    @property
    def portal_accent_colour(self):
        """The accent colour as the portal shows it: darkened if white text on it would
        be hard to read (see clinics.colours)."""
        return readable_accent(self.accent_colour)

    @cached_property
    def tz(self):
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def canonical_domain(self):
        """The host links are built from: the primary custom domain, else the subdomain."""
        from django.conf import settings

        primary = next((d for d in self.domains.all() if d.is_primary), None)
        if primary:
            return primary.domain
        return f"{self.slug}.{settings.PORTAL_BASE_DOMAIN}"

    def build_url(self, path):
        """An absolute URL on the clinic's canonical domain, never from a request's Host."""
        from django.conf import settings

        port = f":{settings.PORTAL_LINK_PORT}" if settings.PORTAL_LINK_PORT else ""
        return f"{settings.PORTAL_LINK_SCHEME}://{self.canonical_domain}{port}{path}"


class ClinicDomain(ClinicOwned):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(_("domain"), max_length=253, unique=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("custom domain")
        verbose_name_plural = _("custom domains")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic"], condition=Q(is_primary=True), name="one_primary_domain"
            )
        ]

    def __str__(self):
        return self.domain

    def save(self, *args, **kwargs):
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)


class PortalSettings(ClinicOwned):
    """A clinic's portal policy, set by its clinic admins. Later features read these."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="portal_settings")
    portal_enabled = models.BooleanField(_("portal enabled"), default=True)
    self_registration_allowed = models.BooleanField(_("self-registration allowed"), default=True)
    email_enabled = models.BooleanField(_("email enabled"), default=True)
    sms_enabled = models.BooleanField(_("text messages (SMS) enabled"), default=True)
    sms_notices_per_patient_per_day = models.PositiveSmallIntegerField(
        _("appointment text messages per patient per day"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_(
            "Beyond this, no more text messages about one patient's appointments go out "
            "that day (emails still do); those not sent are listed under Notifications."
        ),
    )
    otp_validity_minutes = models.PositiveSmallIntegerField(
        _("one time passcode validity (minutes)"),
        default=10,
        validators=[MinValueValidator(2), MaxValueValidator(60)],
    )
    invitation_validity_hours = models.PositiveSmallIntegerField(
        _("invitation validity (hours)"),
        default=72,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
    )
    message_replies_allowed = models.BooleanField(_("patients may reply to messages"), default=True)
    patient_messages_allowed = models.BooleanField(_("patients may start messages"), default=True)
    booking_allowed = models.BooleanField(_("patients may book appointments"), default=False)
    appointment_requests = models.BooleanField(
        _("patients request appointments instead of booking"),
        default=False,
        help_text=_(
            "Patients ask for a visit (type, provider, preferred days and times); the front "
            "desk confirms a time or declines. Direct booking in the portal is then off."
        ),
    )
    cancelling_allowed = models.BooleanField(_("patients may cancel appointments"), default=False)
    cancel_cutoff_hours = models.PositiveSmallIntegerField(
        _("cancellation cutoff (hours before the visit)"), default=24
    )
    representative_age_threshold = models.PositiveSmallIntegerField(
        _("age at which a parent's full access ends"),
        default=16,
        validators=[MinValueValidator(10), MaxValueValidator(21)],
    )
    parent_health_record_age = models.PositiveSmallIntegerField(
        _("age from which parents no longer see the health record"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(21)],
        help_text=_(
            "From this age, a parent or guardian sees the child's results, medications "
            "and other health records only if staff ticked Health record on their access. "
            "Leave empty to use the age at which a parent's full access ends. An age "
            "above that one changes nothing."
        ),
    )
    booking_window_days = models.PositiveSmallIntegerField(
        _("booking window (days ahead)"),
        default=180,
        validators=[MinValueValidator(1), MaxValueValidator(2 * 365)],
        help_text=_("How far ahead appointments may be booked."),
    )
    max_upcoming_appointments = models.PositiveSmallIntegerField(
        _("upcoming appointments per patient"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("The most upcoming appointments one patient may hold."),
    )
    pending_patients_may_book = models.BooleanField(
        _("patients pending verification may book"), default=False
    )
    earlier_offers_enabled = models.BooleanField(
        _("offer freed times to patients waiting for an earlier visit"),
        default=False,
        help_text=_(
            "Patients may ask, per visit, to be offered an earlier time. When a visit is "
            "cancelled, its time is offered to them by email or text message, a few at a "
            "time, those who asked first first."
        ),
    )
    earlier_offers_batch_size = models.PositiveSmallIntegerField(
        _("patients offered a freed time at once"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
    )
    earlier_offers_validity_hours = models.PositiveSmallIntegerField(
        _("earlier-time offer validity (hours)"),
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(72)],
        help_text=_("If nobody accepts within this time, the next patients are offered it."),
    )
    pending_patients_may_message = models.BooleanField(
        _("patients pending verification may send messages"), default=False
    )
    attachment_max_mb = models.PositiveSmallIntegerField(
        _("largest message attachment (MB)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(25)],
        help_text=_("PDF files and images (PNG, JPEG, GIF) up to this size may be attached."),
    )
    message_reply_working_days = models.PositiveSmallIntegerField(
        _("reply time for messages (working days)"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text=_(
            "Stated to patients when they write (a message pool may state its own). "
            "Counted Monday to Friday."
        ),
    )
    mfa_required = models.BooleanField(_("require an authenticator for patients"), default=False)
    idle_timeout_minutes = models.PositiveSmallIntegerField(
        _("idle timeout (minutes)"),
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(12 * 60)],
    )
    staff_idle_timeout_minutes = models.PositiveSmallIntegerField(
        _("staff idle timeout (minutes)"),
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(240)],
        help_text=_("Staff are signed out of the admin after this long without activity."),
    )
    # The version of the clinic's portal terms in force (``PortalTerms``; 0: none yet),
    # kept here so that each page can tell without a query whether the signed-in
    # account accepted it. Set only by ``clinics.terms.terms_publish``.
    terms_version = models.PositiveIntegerField(
        _("portal terms version"), default=0, editable=False
    )

    history = tracked_history()

    class Meta:
        verbose_name = _("portal settings")
        verbose_name_plural = _("portal settings")

    def __str__(self):
        return str(_("Portal settings"))

    def enabled_channels(self):
        channels = []
        if self.email_enabled:
            channels.append("email")
        if self.sms_enabled:
            channels.append("sms")
        return channels

    def health_record_age_for_parents(self) -> int:
        """The age from which a parent's or guardian's grant no longer shows the child's
        health record unless staff granted it: the clinic's choice, never later than the
        age at which a parent's full access ends (empty: that age)."""
        threshold = self.representative_age_threshold
        chosen = self.parent_health_record_age
        return threshold if chosen is None else min(chosen, threshold)


class PortalTerms(ClinicOwned):
    """One published version of a clinic's portal terms. A new version is a new row
    (``clinics.terms.terms_publish``); a published one is never edited, so what an
    account accepted stays readable."""

    version = models.PositiveIntegerField(_("version"))
    text_en = models.TextField(_("terms (English)"))
    text_fr = models.TextField(_("terms (French)"), blank=True)
    published_at = models.DateTimeField(_("published"), default=timezone.now)
    published_by = models.ForeignKey(
        "clinics.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published by"),
    )

    class Meta:
        ordering = ["-version"]
        verbose_name = _("portal terms")
        verbose_name_plural = _("portal terms")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "version"], name="unique_terms_version")
        ]

    def __str__(self):
        return str(_("Portal terms, version %(version)s") % {"version": self.version})

    def text(self, language: str) -> str:
        """The text in ``language`` (French when written), else the English text."""
        if language.startswith("fr") and self.text_fr.strip():
            return self.text_fr
        return self.text_en


class IdentifierType(ClinicOwned):
    """An ID type the clinic accepts (health card, MRN, passport, ...)."""

    code = models.SlugField(_("code"), max_length=40)
    label = models.CharField(_("label"), max_length=100)
    is_active = models.BooleanField(_("accepted"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["sort_order", "label"]
        verbose_name = _("ID type")
        verbose_name_plural = _("ID types")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "code"], name="unique_id_type_code")
        ]

    def __str__(self):
        return self.label

    @property
    def display_label(self) -> str:
        """The label in the reader's language while it is still the default the clinic
        started with (stored as text in one language); a label the clinic wrote itself
        shows as written."""
        default = dict(DEFAULT_ID_TYPES).get(self.code)
        if default is not None:
            stored_as = set()
            for language, _name in settings.LANGUAGES:
                with translation.override(language):
                    stored_as.add(str(default))
            if self.label in stored_as:
                return str(default)
        return self.label


DEFAULT_ID_TYPES = [
    ("health-card", _("Provincial health card")),
    ("mrn", _("Medical record number (MRN)")),
    ("passport", _("Passport")),
    ("drivers-licence", _("Driver's licence")),
]


def _new_epoch():
    return secrets.token_hex(16)


# Changing any of these ends the account's sessions: what a session may do was decided
# when it started (``User.save``, ``UserQuerySet.update``; roles in ``clinics.apps``).
SESSION_BOUND_FIELDS = ("is_active", "is_staff", "is_superuser", "clinic_id")


class UserQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates tell the signed-in account's cache (``clinics.user_cache``), and end
    the sessions of the accounts whose access they change."""

    def update(self, **kwargs):
        changes_access = {name.removesuffix("_id") for name in SESSION_BOUND_FIELDS}
        if changes_access & {name.removesuffix("_id") for name in kwargs}:
            kwargs.setdefault("session_epoch", _new_epoch())
        return super().update(**kwargs)


class ClinicUserManager(UserManager.from_queryset(UserQuerySet)):
    def _create_user(self, username, email, password, **extra_fields):
        email = self.normalize_email(email) if email else ""
        user = self.model(username=username, email=email, **extra_fields)
        user.password = ""
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(username, email, password, **extra_fields)

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        """A platform operator: belongs to no clinic."""
        extra_fields.update(is_staff=True, is_superuser=True, clinic=None)
        return self._create_user(username, email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who signs in. Belongs to one clinic; platform operators to none.

    A person registered at two clinics has two accounts.
    """

    clinic = models.ForeignKey(
        Clinic,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("clinic"),
    )
    username = models.CharField(_("username"), max_length=150)
    # Sign-in contacts, canonical (portal.core.identifiers) and unique per clinic.
    email = CanonicalEmailField(_("email"), blank=True)
    phone = PhoneNumberField(_("mobile"), blank=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    must_change_password = models.BooleanField(_("must change password"), default=False)
    # Part of every session's auth hash: changing it signs the account out everywhere.
    session_epoch = models.CharField(max_length=32, default=_new_epoch, editable=False)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = ClinicUserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "username"], name="unique_username_per_clinic"
            ),
            models.UniqueConstraint(
                fields=["username"],
                condition=Q(clinic__isnull=True),
                name="unique_operator_username",
            ),
            models.UniqueConstraint(
                fields=["clinic", "email"],
                condition=~Q(email=""),
                name="unique_email_per_clinic",
            ),
            models.UniqueConstraint(
                fields=["clinic", "phone"],
                condition=~Q(phone=""),
                name="unique_phone_per_clinic",
            ),
        ]

    def __str__(self):
        return self.get_full_name() or self.username

    def _get_session_auth_hash(self, secret=None):
        return salted_hmac(
            "clinics.User.session",
            f"{self.password}:{self.session_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    def end_all_sessions(self):
        """Sign this account out on every device (takes effect on their next request)."""
        self.session_epoch = _new_epoch()
        self.save(update_fields=["session_epoch"])

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        if not instance.get_deferred_fields():
            instance._access_as_loaded = instance._access()
        return instance

    def _access(self):
        return tuple(getattr(self, name) for name in SESSION_BOUND_FIELDS)

    def save(self, *args, **kwargs):
        """Deactivating the account, or changing its staff, superuser or clinic, ends its
        sessions everywhere (a new ``session_epoch``, part of every session's hash)."""
        loaded = getattr(self, "_access_as_loaded", None)
        if loaded is not None and loaded != self._access():
            self.session_epoch = _new_epoch()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "session_epoch"}
        super().save(*args, **kwargs)
        self._access_as_loaded = self._access()

    def clean(self):
        super().clean()
        self.validate_staff_clinic()

    def validate_staff_clinic(self):
        """A staff member belongs to a clinic; only platform operators (superusers) belong
        to none. Called by the model's ``clean`` (admin forms) and by every service that
        creates or changes a staff account."""
        if self.is_staff and not self.is_superuser and self.clinic_id is None:
            raise ValidationError(
                {"clinic": _("A staff member belongs to a clinic: choose one.")},
                code="staff_without_clinic",
            )

    def get_full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self):
        return self.first_name or self.username

    @property
    def is_platform_operator(self):
        return self.clinic_id is None and self.is_superuser

    def has_role(self, role):
        return any(g.name == role for g in self.groups.all())
