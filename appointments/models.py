from django.conf import settings
from django.db import models
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from clinics.scoping import ClinicOwned, ClinicScopedQuerySet
from portal.core.cache import ReportsUpdates
from portal.core.history import tracked_history


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
