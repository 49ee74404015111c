"""The health record the clinic's record system sends in: results (reports and their
observations), medications, allergies, immunizations and documents, each on one chart.

Every row is the clinic's (``ClinicOwned``) and keeps the record system's identifier
(``source_system`` + ``source_value``) so that sending the same resource again updates
it. Rows keep their history (``tracked_history``): its newest id is the FHIR
``meta.versionId`` and its time ``meta.lastUpdated``, as for charts and appointments.

Results reach the patient only by the release rules (``ReleaseRule``, set by clinic
admins, and the patient's ``RecordPreference``); ``records.selectors`` applies them.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.scoping import ClinicOwned, ClinicScopedQuerySet
from portal.core.cache import ReportsUpdates
from portal.core.history import tracked_history
from records.storage import document_storage

# Result statuses a patient may see (FHIR ObservationStatus / DiagnosticReportStatus):
# registered, partial and preliminary results, cancelled and entered-in-error ones never.
SHOWN_RESULT_STATUSES = ("final", "amended", "corrected", "appended")


class RecordQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates tell the health record's page cache which charts changed."""

    update_report_fields = ("clinic_id", "patient_id")

    def for_patient(self, patient):
        return self.for_clinic(patient.clinic_id).filter(patient_id=patient.pk)


class RecordEntry(ClinicOwned):
    """What every row of the record has: its chart, the record system's identifier and
    the date it is shown and sorted by."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="+", verbose_name=_("patient")
    )
    source_system = models.CharField(_("identifier system"), max_length=255, blank=True)
    source_value = models.CharField(_("identifier"), max_length=255, blank=True)
    date = models.DateTimeField(_("date"))
    received_at = models.DateTimeField(_("received"), default=timezone.now, editable=False)

    objects = RecordQuerySet.as_manager()

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "source_system", "source_value"],
                condition=~Q(source_value=""),
                name="%(class)s_one_row_per_source_identifier",
            )
        ]


class Coded(models.Model):
    """A code (e.g. LOINC, CVX, RxNorm) and the words for it."""

    code_system = models.CharField(_("code system"), max_length=255, blank=True)
    code = models.CharField(_("code"), max_length=64, blank=True)
    display = models.CharField(_("name"), max_length=255)

    class Meta:
        abstract = True


class Releasable(models.Model):
    """A result, shown to the patient from ``release_at`` (None: when the clinician has
    reviewed it). ``notified_at``: when the patient was told a new result was there."""

    category = models.CharField(
        _("category"),
        max_length=64,
        blank=True,
        help_text=_("The record system's category code, in lower case (e.g. laboratory)."),
    )
    status = models.CharField(_("status"), max_length=20)
    issued = models.DateTimeField(_("issued"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed by the clinician"), null=True, blank=True)
    reviewed_by = models.CharField(_("reviewed by"), max_length=200, blank=True)
    release_at = models.DateTimeField(_("shown to the patient from"), null=True, blank=True)
    notified_at = models.DateTimeField(_("patient told"), null=True, blank=True, editable=False)

    class Meta:
        abstract = True


class DiagnosticReport(RecordEntry, Coded, Releasable):
    """A report that groups results (a panel of laboratory tests, an imaging report)."""

    performer = models.CharField(_("performed by"), max_length=200, blank=True)
    conclusion = models.TextField(_("conclusion"), blank=True)

    history = tracked_history()

    class Meta(RecordEntry.Meta):
        ordering = ["-date", "-pk"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        permissions = [("review_diagnosticreport", _("Can mark reports reviewed"))]
        indexes = [models.Index(fields=["clinic", "patient", "-date"], name="report_chart_date")]

    def __str__(self):
        return self.display


class Observation(RecordEntry, Coded, Releasable):
    """One result: a laboratory test or a vital sign, with its value and the lab's range.
    In a report, it is released with its report."""

    report = models.ForeignKey(
        DiagnosticReport,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="observations",
        verbose_name=_("report"),
    )
    value_quantity = models.DecimalField(
        _("value"), max_digits=20, decimal_places=6, null=True, blank=True
    )
    value_unit = models.CharField(_("unit"), max_length=64, blank=True)
    value_string = models.TextField(_("value (text)"), blank=True)
    value_code = models.CharField(_("value (code)"), max_length=64, blank=True)
    value_display = models.CharField(_("value (coded)"), max_length=255, blank=True)
    range_low = models.DecimalField(
        _("range from"), max_digits=20, decimal_places=6, null=True, blank=True
    )
    range_high = models.DecimalField(
        _("range to"), max_digits=20, decimal_places=6, null=True, blank=True
    )
    range_text = models.CharField(_("reference range"), max_length=255, blank=True)
    interpretation = models.CharField(
        _("interpretation"),
        max_length=8,
        blank=True,
        help_text=_("HL7 v3 ObservationInterpretation code: H, L, N, A, HH, LL, …"),
    )

    history = tracked_history()

    class Meta(RecordEntry.Meta):
        ordering = ["-date", "-pk"]
        verbose_name = _("result")
        verbose_name_plural = _("results")
        permissions = [("review_observation", _("Can mark results reviewed"))]
        indexes = [
            models.Index(fields=["clinic", "patient", "-date"], name="observation_chart_date"),
            # A test's trend: one chart's values of one code, by date.
            models.Index(fields=["clinic", "patient", "code", "date"], name="observation_trend"),
        ]

    def __str__(self):
        return self.display


class Medication(RecordEntry, Coded):
    """A prescription (MedicationRequest) or a medication the patient takes
    (MedicationStatement)."""

    class Kind(models.TextChoices):
        REQUEST = "request", _("Prescription")
        STATEMENT = "statement", _("Medication taken")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=20, help_text=_("active, on-hold, stopped, completed, …")
    )
    intent = models.CharField(_("intent"), max_length=20, blank=True)
    dosage = models.TextField(_("dosage"), blank=True)
    authored_on = models.DateTimeField(_("prescribed"), null=True, blank=True)
    effective_start = models.DateTimeField(_("taken from"), null=True, blank=True)
    effective_end = models.DateTimeField(_("taken until"), null=True, blank=True)
    refills_allowed = models.PositiveSmallIntegerField(_("refills allowed"), null=True, blank=True)
    prescriber = models.CharField(_("prescribed by"), max_length=200, blank=True)

    history = tracked_history()

    class Meta(RecordEntry.Meta):
        ordering = ["-date", "-pk"]
        verbose_name = _("medication")
        verbose_name_plural = _("medications")
        indexes = [
            models.Index(fields=["clinic", "patient", "-date"], name="medication_chart_date")
        ]

    def __str__(self):
        return self.display


class AllergyIntolerance(RecordEntry, Coded):
    clinical_status = models.CharField(_("clinical status"), max_length=20, blank=True)
    verification_status = models.CharField(_("verification"), max_length=20, blank=True)
    criticality = models.CharField(_("criticality"), max_length=20, blank=True)
    reactions = models.TextField(_("reactions"), blank=True)

    history = tracked_history()

    class Meta(RecordEntry.Meta):
        ordering = ["-date", "-pk"]
        verbose_name = _("allergy")
        verbose_name_plural = _("allergies")
        indexes = [models.Index(fields=["clinic", "patient", "-date"], name="allergy_chart_date")]

    def __str__(self):
        return self.display


class Immunization(RecordEntry, Coded):
    status = models.CharField(_("status"), max_length=20)
    lot_number = models.CharField(_("lot number"), max_length=64, blank=True)
    site = models.CharField(_("site"), max_length=100, blank=True)

    history = tracked_history()

    class Meta(RecordEntry.Meta):
        ordering = ["-date", "-pk"]
        verbose_name = _("immunization")
        verbose_name_plural = _("immunizations")
        indexes = [
            models.Index(fields=["clinic", "patient", "-date"], name="immunization_chart_date")
        ]

    def __str__(self):
        return self.display


def document_path(instance, filename):
    """A random name: nothing about the patient or the document is on disk."""
    return f"{instance.clinic_id}/{uuid.uuid4().hex}"


class Document(RecordEntry):
    """A visit summary, a letter or another document of the chart, as a PDF."""

    class Kind(models.TextChoices):
        VISIT_SUMMARY = "visit_summary", _("Visit summary")
        LETTER = "letter", _("Letter")
        OTHER = "other", _("Document")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    type_system = models.CharField(_("type system"), max_length=255, blank=True)
    type_code = models.CharField(_("type code"), max_length=64, blank=True)
    type_display = models.CharField(_("type"), max_length=255, blank=True)
    title = models.CharField(_("title"), max_length=255)
    status = models.CharField(_("status"), max_length=20)
    file = models.FileField(_("file"), upload_to=document_path, storage=document_storage)
    content_type = models.CharField(_("file type"), max_length=40, default="application/pdf")
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha1 = models.CharField(_("SHA-1"), max_length=40, editable=False)

    history = tracked_history()

    class Meta(RecordEntry.Meta):
        ordering = ["-date", "-pk"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        indexes = [models.Index(fields=["clinic", "patient", "-date"], name="document_chart_date")]

    def __str__(self):
        return self.title


class ReleaseRuleQuerySet(ReportsUpdates, ClinicScopedQuerySet):
    """Bulk updates tell the health record's page cache which clinics' rules changed."""

    update_report_fields = ("clinic_id",)


class ReleaseRule(ClinicOwned):
    """When the clinic shows a category of results to patients. The rule with no
    category applies to every category without a rule of its own; with no rule at all
    a result waits for the clinician's review."""

    class Mode(models.TextChoices):
        AT_ONCE = "at_once", _("At once")
        AFTER_REVIEW = "after_review", _("After the clinician marks it reviewed")
        AFTER_DAYS = "after_days", _("After a number of days, or at review if sooner")

    category = models.CharField(
        _("category"),
        max_length=64,
        blank=True,
        help_text=_(
            "The category code the record system sends, e.g. laboratory, imaging, "
            "vital-signs, LAB, RAD, SP. Leave empty for every other category."
        ),
    )
    mode = models.CharField(_("shown to patients"), max_length=16, choices=Mode.choices)
    days = models.PositiveSmallIntegerField(
        _("days"),
        default=0,
        help_text=_("For “after a number of days”: counted from the day the result was issued."),
    )

    objects = ReleaseRuleQuerySet.as_manager()

    class Meta:
        ordering = ["category"]
        verbose_name = _("result release rule")
        verbose_name_plural = _("result release rules")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "category"], name="one_rule_per_category")
        ]

    def __str__(self):
        return self.category or str(_("every other category"))

    def save(self, *args, **kwargs):
        self.category = self.category.strip().lower()
        super().save(*args, **kwargs)


class RecordPreference(ClinicOwned):
    """The patient's own choices about their record."""

    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.CASCADE, related_name="+", verbose_name=_("patient")
    )
    wait_for_review = models.BooleanField(
        _("wait for my clinician's review before showing new results"), default=False
    )
    # Results released before the patient chose to wait stay shown.
    wait_since = models.DateTimeField(null=True, blank=True, editable=False)

    objects = RecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("health record preference")
        verbose_name_plural = _("health record preferences")

    def __str__(self):
        return str(self.patient_id)


class RefillRequestQuerySet(ClinicScopedQuerySet):
    def pending(self):
        return self.filter(status=RefillRequest.Status.PENDING)

    def for_list(self):
        return self.select_related("patient", "medication")


class RefillRequest(ClinicOwned):
    """A patient asks the clinic to renew one of their active prescriptions, with a note
    for the pharmacy; the front desk (or the record system, through the FHIR Task)
    approves or declines it with an answer the patient reads in the portal.

    At most one request waits per medication: the database refuses a second one
    (``one_open_refill_request_per_medication``), and ``records.services`` says so first."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the clinic")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")

    NOTE_MAX_LENGTH = 200
    ANSWER_MAX_LENGTH = 500

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="+", verbose_name=_("patient")
    )
    medication = models.ForeignKey(
        Medication,
        on_delete=models.CASCADE,
        related_name="refill_requests",
        verbose_name=_("medication"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    pharmacy_note = models.CharField(_("note for the pharmacy"), max_length=NOTE_MAX_LENGTH)
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
    answer = models.CharField(_("answer"), max_length=ANSWER_MAX_LENGTH, blank=True)

    history = tracked_history()
    objects = RefillRequestQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("refill request")
        verbose_name_plural = _("refill requests")
        constraints = [
            models.UniqueConstraint(
                fields=["medication"],
                condition=Q(status="pending"),
                name="one_open_refill_request_per_medication",
            )
        ]
        indexes = [
            models.Index(fields=["clinic", "status", "created_at"], name="refill_queue"),
            models.Index(fields=["medication", "-created_at"], name="refill_medication_newest"),
        ]

    def __str__(self):
        return str(self.medication)

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def decline_reason(self) -> str:
        """The answer, when it declines (the FHIR Task's ``statusReason``)."""
        return self.answer if self.status == self.Status.DECLINED else ""
