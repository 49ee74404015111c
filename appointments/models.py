from django.conf import settings
from django.db import models
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from clinics.scoping import ClinicOwned, ClinicScopedQuerySet
from portal.core.cache import ReportsUpdates
from portal.core.history import tracked_history
from portal.core.tokens import SingleUseLink


class AppointmentType(ClinicOwned):
    name = models.CharField(_("name"), max_length=100)
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=15)
    bookable_online = models.BooleanField(_("bookable online"), default=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("appointment type")
        verbose_name_plural = _("appointment types")

    def __str__(self):
        return self.name


class Provider(ClinicOwned):
    """A clinician patients can see."""

    name = models.CharField(_("name"), max_length=200)
    title = models.CharField(_("title"), max_length=100, blank=True)
    bookable_online = models.BooleanField(_("bookable online"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    appointment_types = models.ManyToManyField(
        AppointmentType,
        blank=True,
        related_name="providers",
        verbose_name=_("appointment types"),
        help_text=_(
            "The types of appointment this provider offers. Nothing else can be booked "
            "with them, in the portal or here."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("provider")
        verbose_name_plural = _("providers")

    def __str__(self):
        return self.name


class WeeklyAvailability(ClinicOwned):
    """Regular hours, in the clinic's local time."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="availability")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start_time = models.TimeField(_("from"))
    end_time = models.TimeField(_("until"))

    class Meta:
        ordering = ["weekday", "start_time"]
        verbose_name = _("weekly hours")
        verbose_name_plural = _("weekly hours")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="availability_ends_after_it_starts",
            )
        ]

    def __str__(self):
        start = formats.time_format(self.start_time, "TIME_FORMAT")
        end = formats.time_format(self.end_time, "TIME_FORMAT")
        return f"{self.get_weekday_display()} {start}–{end}"


class AvailabilityException(ClinicOwned):
    """Time off (a whole day when no times are given) or extra hours on one date."""

    class Kind(models.TextChoices):
        TIME_OFF = "off", _("Time off")
        EXTRA = "extra", _("Extra hours")

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=5, choices=Kind.choices)
    start_time = models.TimeField(_("from"), null=True, blank=True)
    end_time = models.TimeField(_("until"), null=True, blank=True)

    class Meta:
        ordering = ["date", "start_time"]
        verbose_name = _("availability exception")
        verbose_name_plural = _("availability exceptions")

    def __str__(self):
        return f"{self.get_kind_display()} {self.date}"


class AppointmentQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates (visits marked completed or missed) tell the caches of the chart."""

    update_report_fields = ("pk", "clinic_id", "patient_id")

    def active(self):
        return self.exclude(status=Appointment.Status.CANCELLED)

    def for_list(self):
        return self.select_related("provider", "appointment_type")


class Appointment(ClinicOwned):
    """A visit. ``start``/``end`` are stored in UTC and shown in the clinic's time zone.

    No two active appointments of one provider overlap unless staff booked one over the
    conflict on purpose (``conflict_override``): on PostgreSQL an exclusion constraint
    enforces it (migrations 0004 and 0005); on SQLite every write transaction is
    serialised (BEGIN IMMEDIATE), so the service's check-then-insert cannot race. One
    patient's visits do not overlap either: the booking service locks the patient's row
    (see ``appointments.services.appointment_book``).
    """

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CANCELLED = "cancelled", _("Cancelled")
        COMPLETED = "completed", _("Completed")
        NO_SHOW = "no_show", _("No-show")

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments"
    )
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, verbose_name=_("type")
    )
    start = models.DateTimeField(_("starts"))
    end = models.DateTimeField(_("ends"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.BOOKED
    )
    reason = models.CharField(_("reason for visit"), max_length=500, blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("booked by"),
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cancelled by"),
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    reminder_sent_at = models.DateTimeField(_("reminder sent"), null=True, blank=True)
    # The SEQUENCE of the visit's calendar file: one more at every change patients are
    # sent (a cancellation), so calendars apply the newest.
    calendar_sequence = models.PositiveIntegerField(
        _("calendar version"), default=0, editable=False
    )
    conflict_override = models.BooleanField(
        _("booked over a conflict"),
        default=False,
        editable=False,
        help_text=_(
            "Staff booked it although it overlaps another visit of the patient or provider."
        ),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # When the patient (or someone acting for them) asked to be offered an earlier time
    # for this visit, if one frees up; empty when they did not or no longer want it.
    # Offers go to those who asked first (``appointments.offers``).
    earlier_offers_since = models.DateTimeField(
        _("offered earlier times since"), null=True, blank=True
    )

    objects = AppointmentQuerySet.as_manager()
    history = tracked_history()

    class Meta:
        ordering = ["start"]
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        indexes = [
            models.Index(fields=["clinic", "patient", "start"]),
            models.Index(fields=["provider", "start"]),
            models.Index(fields=["clinic", "start"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="appointment_ends_after_start"
            )
        ]

    def __str__(self):
        start = formats.date_format(timezone.localtime(self.start), "SHORT_DATETIME_FORMAT")
        return f"{self.patient} · {self.provider} · {start}"


class FreedSlot(ClinicOwned):
    """A booked time that a cancellation gave back, offered to patients who asked for an
    earlier visit with the same provider and of the same type (``appointments.offers``).

    Offers go out a batch at a time; the row is locked while a batch is chosen and while
    an offer is accepted, so one patient gets the time.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Being offered")
        TAKEN = "taken", _("Taken through an offer")
        CLOSED = "closed", _("No longer offered")

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.CASCADE, related_name="+"
    )
    start = models.DateTimeField(_("starts"))
    end = models.DateTimeField(_("ends"))
    cancelled_visit = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    batches_sent = models.PositiveSmallIntegerField(_("batches sent"), default=0)
    # When the current batch's offers lapse and the next batch may go out.
    batch_ends_at = models.DateTimeField(_("current batch ends"), null=True, blank=True)
    booked_visit = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("freed time")
        verbose_name_plural = _("freed times")
        indexes = [
            models.Index(
                fields=["batch_ends_at"],
                condition=models.Q(status="open"),
                name="freed_slot_open_idx",
            )
        ]

    def __str__(self):
        start = formats.date_format(timezone.localtime(self.start), "SHORT_DATETIME_FORMAT")
        return f"{self.provider} · {start}"


class SlotOffer(SingleUseLink, ClinicOwned):
    """One link offering a freed time to one recipient (the patient, or someone acting for
    them) in place of the patient's later ``appointment``. The token is made when the
    message renders and stored only as its SHA-256; the link works once, until
    ``expires_at``, while the time is still free."""

    class State(models.TextChoices):
        VALID = "valid", _("Valid")
        EXPIRED = "expired", _("Expired")
        USED = "used", _("Accepted")
        SUPERSEDED = "superseded", _("Replaced by a newer offer")
        REVOKED = "revoked", _("Withdrawn")
        TAKEN = "taken", _("Taken by someone else")

    freed_slot = models.ForeignKey(FreedSlot, on_delete=models.CASCADE, related_name="offers")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    batch = models.PositiveSmallIntegerField(_("batch"))
    channel = models.CharField(_("sent by"), max_length=8)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("earlier-time offer")
        verbose_name_plural = _("earlier-time offers")
        indexes = [models.Index(fields=["freed_slot", "appointment"])]

    def __str__(self):
        return f"{self.freed_slot} · {self.get_state_display()}"

    def revoked(self) -> bool:
        # The visit it would replace was cancelled or moved meanwhile.
        return bool(self.revoked_at) or self.appointment.status != Appointment.Status.BOOKED

    def state(self, at=None) -> str:
        slot = self.freed_slot
        if slot.status == FreedSlot.Status.TAKEN and not self.accepted_at:
            if slot.booked_visit_id is not None and slot.booked_visit.patient_id == self.patient_id:
                return self.State.USED  # taken through the patient's other link
            return self.State.TAKEN
        if slot.status == FreedSlot.Status.CLOSED and not self.accepted_at:
            return self.State.EXPIRED
        return super().state(at)
class AppointmentRequestQuerySet(ClinicScopedQuerySet):
    def pending(self):
        return self.filter(status=AppointmentRequest.Status.PENDING)

    def for_list(self):
        return self.select_related("patient", "provider", "appointment_type")


class AppointmentRequest(ClinicOwned):
    """A patient asks for a visit (the clinic lets patients request instead of book:
    ``PortalSettings.appointment_requests``); the front desk confirms a real time or
    declines. Only structured preferences and a short note: no clinical free text."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the clinic")
        CONFIRMED = "confirmed", _("Booked")
        DECLINED = "declined", _("Declined")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Day(models.TextChoices):
        MONDAY = "mon", _("Monday")
        TUESDAY = "tue", _("Tuesday")
        WEDNESDAY = "wed", _("Wednesday")
        THURSDAY = "thu", _("Thursday")
        FRIDAY = "fri", _("Friday")
        SATURDAY = "sat", _("Saturday")
        SUNDAY = "sun", _("Sunday")

    class Time(models.TextChoices):
        MORNING = "morning", _("Morning (before noon)")
        AFTERNOON = "afternoon", _("Afternoon (noon to 5 p.m.)")
        EVENING = "evening", _("Evening (after 5 p.m.)")

    NOTE_MAX_LENGTH = 200
    REASON_MAX_LENGTH = 300

    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        related_name="appointment_requests",
        verbose_name=_("patient"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, verbose_name=_("type")
    )
    provider = models.ForeignKey(
        Provider,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("preferred provider"),
        help_text=_("Empty: any provider."),
    )
    preferred_days = models.JSONField(_("preferred days"), default=list, blank=True)
    preferred_times = models.JSONField(_("preferred times"), default=list, blank=True)
    note = models.CharField(_("note"), max_length=NOTE_MAX_LENGTH, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    decided_at = models.DateTimeField(_("answered"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )
    decline_reason = models.CharField(
        _("reason for declining"), max_length=REASON_MAX_LENGTH, blank=True
    )
    appointment = models.OneToOneField(
        Appointment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="request",
        verbose_name=_("appointment booked"),
    )

    objects = AppointmentRequestQuerySet.as_manager()

    class Meta:
        db_table = "appointments_request"
        ordering = ["created_at", "pk"]
        verbose_name = _("appointment request")
        verbose_name_plural = _("appointment requests")
        indexes = [
            models.Index(fields=["clinic", "status", "created_at"]),
            models.Index(fields=["clinic", "patient", "status"]),
        ]

    def __str__(self):
        return f"{self.patient} · {self.appointment_type}"

    def days_display(self) -> list[str]:
        labels = dict(self.Day.choices)
        return [str(labels[d]) for d in self.preferred_days if d in labels]

    def times_display(self) -> list[str]:
        labels = dict(self.Time.choices)
        return [str(labels[t]) for t in self.preferred_times if t in labels]


class CalendarFeed(ClinicOwned):
    """A portal account's private calendar subscription. Only the token's digest is
    stored; resetting it replaces the digest, so the old address stops at once."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self):
        return str(_("Calendar feed"))
