"""Threads and messages between a patient (or their representatives) and the clinic.

A thread belongs to one clinic and one patient. Each message is written by one side
(staff or the patient's side); ``read_by_patient_at`` and ``read_by_staff_at`` say when
each side first saw it (the author's side has read it when it is written).

A thread is routed to a pool of staff (Front desk, Nurses, Billing...) by its category
(``PoolCategory``); a pool states its reply time in working days and may be away
(out of office) between two dates. The clinic's acknowledgement of a patient's message is
a message from the clinic marked ``automatic``.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from clinics.scoping import ClinicOwned, ClinicScopedQuerySet
from messaging.storage import attachment_storage
from patients.models import PatientAccess
from portal.core.cache import ReportsUpdates


class Side(models.TextChoices):
    STAFF = "staff", _("Clinic")
    PATIENT = "patient", _("Patient")


def _count_of(messages):
    """The number of ``messages`` (filtered on ``thread=OuterRef("pk")``) as an int column."""
    counted = messages.order_by().values("thread").annotate(n=models.Count("pk")).values("n")
    return Coalesce(models.Subquery(counted[:1]), 0)


class Pool(ClinicOwned):
    """A group of staff who answer one kind of message, with its stated reply time and
    its out-of-office dates."""

    name = models.CharField(_("name"), max_length=80)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="message_pools",
        limit_choices_to={"is_staff": True},
        verbose_name=_("members"),
    )
    reply_working_days = models.PositiveSmallIntegerField(
        _("reply time (working days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text=_("Stated to patients when they write. Empty: the clinic's reply time."),
    )
    away_from = models.DateField(_("away from"), null=True, blank=True)
    away_until = models.DateField(
        _("away until"),
        null=True,
        blank=True,
        help_text=_("The last day away. Messages written in between say when to expect an answer."),
    )
    away_note = models.CharField(
        _("out-of-office note"),
        max_length=300,
        blank=True,
        help_text=_("Added to the acknowledgement while away (no health information)."),
    )

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("message pool")
        verbose_name_plural = _("message pools")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="pool_name_unique"),
            models.CheckConstraint(
                condition=Q(away_from__isnull=True)
                | Q(away_until__isnull=True)
                | Q(away_from__lte=models.F("away_until")),
                name="pool_away_in_order",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if (self.away_from is None) != (self.away_until is None):
            raise ValidationError(_("Give both the first and the last day away, or neither."))
        if self.away_from and self.away_until and self.away_from > self.away_until:
            raise ValidationError(_("The last day away cannot be before the first."))

    def is_away_on(self, day) -> bool:
        return bool(self.away_from and self.away_until and self.away_from <= day <= self.away_until)


class ThreadQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates (a reply, a thread marked handled) tell the caches of the chart."""

    update_report_fields = ("clinic_id", "patient_id")

    def with_unread_for_patient(self):
        """``unread``: the clinic's messages the patient's side has not opened yet."""
        unread = Message.objects.filter(
            thread=OuterRef("pk"), sender_side=Side.STAFF, read_by_patient_at__isnull=True
        )
        return self.annotate(unread=_count_of(unread))

    def with_unread_for_staff(self):
        """``unread``: the patient's side's messages no staff member has opened yet."""
        unread = Message.objects.filter(
            thread=OuterRef("pk"), sender_side=Side.PATIENT, read_by_staff_at__isnull=True
        )
        return self.annotate(unread=_count_of(unread))

    def with_unread_by_clinic(self):
        """``unread_by_clinic``: the patient's side's messages no staff member opened yet."""
        unread = Message.objects.filter(
            thread=OuterRef("pk"), sender_side=Side.PATIENT, read_by_staff_at__isnull=True
        )
        return self.annotate(unread_by_clinic=_count_of(unread))

    def awaiting_reply(self):
        return self.filter(last_sender_side=Side.PATIENT, handled_at__isnull=True)

    def with_conversation(self):
        """The thread with its patient, messages (oldest first) and their attachments:
        three queries however long the conversation."""
        messages = Message.objects.order_by("created_at", "id").prefetch_related("attachments")
        return self.select_related("patient").prefetch_related(
            models.Prefetch("messages", queryset=messages)
        )


class Thread(ClinicOwned):
    class Category(models.TextChoices):
        GENERAL = "general", _("General")
        PRESCRIPTION_REFILL = "prescription_refill", _("Prescription refill")
        REFERRAL = "referral", _("Referral")
        APPOINTMENT_REQUEST = "appointment_request", _("Appointment request")
        BILLING_QUESTION = "billing_question", _("Billing question")

    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.CASCADE,
        related_name="message_threads",
        verbose_name=_("patient"),
    )
    subject = models.CharField(_("subject"), max_length=150)
    category = models.CharField(
        _("category"), max_length=24, choices=Category.choices, default=Category.GENERAL
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    # Kept up to date by the services so lists sort and filter without reading messages.
    last_message_at = models.DateTimeField(_("last message"), default=timezone.now)
    last_sender_side = models.CharField(_("last message from"), max_length=8, choices=Side.choices)
    pool = models.ForeignKey(
        Pool,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="threads",
        verbose_name=_("pool"),
    )
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
    )

    objects = ThreadQuerySet.as_manager()

    class Meta:
        ordering = ["-last_message_at", "-id"]
        verbose_name = _("message thread")
        verbose_name_plural = _("message threads")
        indexes = [
            # Threads awaiting a reply, for the work screen (clinics.workboard).
            models.Index(
                fields=["clinic", "last_message_at"],
                condition=models.Q(last_sender_side="patient", handled_at__isnull=True),
                name="thread_awaiting_idx",
            ),
            models.Index(
                fields=["clinic", "patient", "-last_message_at"], name="thread_patient_idx"
            ),
            models.Index(fields=["clinic", "-last_message_at"], name="thread_clinic_idx"),
        ]

    def __str__(self):
        return self.subject

    @property
    def awaiting_reply(self):
        return self.last_sender_side == Side.PATIENT and self.handled_at is None

    @property
    def answered(self):
        """A person at the clinic wrote last (automatic acknowledgements do not count)."""
        return self.last_sender_side == Side.STAFF


class PoolCategory(ClinicOwned):
    """Messages of ``category`` go to ``pool`` (one pool per category in a clinic)."""

    pool = models.ForeignKey(
        Pool, on_delete=models.CASCADE, related_name="categories", verbose_name=_("pool")
    )
    category = models.CharField(_("category"), max_length=24, choices=Thread.Category.choices)

    class Meta:
        ordering = ["category"]
        verbose_name = _("category routed to the pool")
        verbose_name_plural = _("categories routed to the pool")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "category"], name="pool_category_unique"),
        ]

    def __str__(self):
        return self.get_category_display()


def attachment_path(instance, filename):
    """A random name: the original name is kept only in the row, never on disk."""
    return f"{instance.clinic_id}/{uuid.uuid4().hex}"


class MessageQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates (messages marked read) tell the caches of the chart."""

    update_report_fields = ("clinic_id", "thread__patient_id")


class Message(ClinicOwned):
    thread = models.ForeignKey(
        Thread, on_delete=models.CASCADE, related_name="messages", verbose_name=_("thread")
    )
    sender_side = models.CharField(_("from"), max_length=8, choices=Side.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("author"),
    )
    # Kept as written, so the conversation reads the same after an account changes or goes.
    author_name = models.CharField(_("author name"), max_length=300)
    # For the patient's side: "self", or how a representative is related to the patient.
    author_relationship = models.CharField(_("author relationship"), max_length=10, blank=True)
    body = models.TextField(_("message"), max_length=5000)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    read_by_patient_at = models.DateTimeField(_("read by the patient"), null=True, blank=True)
    read_by_staff_at = models.DateTimeField(_("read by the clinic"), null=True, blank=True)
    # The clinic's acknowledgement, written by the portal, not by a person.
    automatic = models.BooleanField(_("automatic"), default=False)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["thread", "created_at"], name="message_thread_idx"),
            models.Index(
                fields=["thread"],
                condition=Q(sender_side="staff", read_by_patient_at__isnull=True),
                name="message_unread_patient_idx",
            ),
            models.Index(
                fields=["thread"],
                condition=Q(sender_side="patient", read_by_staff_at__isnull=True),
                name="message_unread_staff_idx",
            ),
        ]

    def __str__(self):
        created = formats.date_format(timezone.localtime(self.created_at), "SHORT_DATETIME_FORMAT")
        return f"{self.author_name} · {created}"

    @property
    def unread_by_patient(self):
        return self.sender_side == Side.STAFF and self.read_by_patient_at is None

    @property
    def unread_by_staff(self):
        return self.sender_side == Side.PATIENT and self.read_by_staff_at is None

    @property
    def by_representative(self):
        return self.sender_side == Side.PATIENT and self.author_relationship not in ("", "self")

    @property
    def author_relationship_label(self):
        if not self.by_representative:
            return ""
        try:
            return PatientAccess.Relationship(self.author_relationship).label
        except ValueError:
            return self.author_relationship

    @property
    def author_display(self):
        """ "X for Y" when a representative wrote; needs ``thread.patient`` loaded."""
        if self.by_representative:
            return _("%(author)s for %(patient)s") % {
                "author": self.author_name,
                "patient": self.thread.patient.full_name,
            }
        return self.author_name


class Attachment(ClinicOwned):
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("message")
    )
    file = models.FileField(_("file"), upload_to=attachment_path, storage=attachment_storage)
    original_name = models.CharField(_("file name"), max_length=120)
    content_type = models.CharField(_("type"), max_length=40)
    size = models.PositiveIntegerField(_("size (bytes)"))
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self):
        return self.original_name
