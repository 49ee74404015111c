"""Writes of the health record: rows the record system sends (through the FHIR API),
the clinician's review, the clinic's release rules, the patient's preference, and the
"a new result is available" notice. Every write is audited."""

import datetime as dt
import hashlib
from functools import partial

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from clinics.models import Clinic
from patients.contacts import notice_recipients
from patients.models import Patient, PatientAccess
from portal.audit.services import audit_read, audit_record
from portal.core.identifiers import has_invisible_character
from portal.notifications.services import notify
from records import selectors
from records.models import (
    SHOWN_RESULT_STATUSES,
    DiagnosticReport,
    Document,
    Observation,
    RecordPreference,
    RefillRequest,
    Releasable,
)
from records.signals import refill_request_decided

PDF_SIGNATURE = b"%PDF-"
# A result issued this long before it reached the portal is history being imported:
# it is shown by the rules but announced to nobody.
NOTICE_MAX_AGE = dt.timedelta(days=90)
NOTICE_BATCH = 2000  # rows looked at per kind and per run of the periodic task


class NotSaved(Exception):  # noqa: N818 - the row cannot be kept as sent (a 400 or 409)
    def __init__(self, message: str, *, conflict: bool = False):
        super().__init__(message)
        self.conflict = conflict


# --- Rows from the record system ------------------------------------------------------------


def _release_at(row: Releasable, rules: dict, now: dt.datetime) -> dt.datetime | None:
    """The row's release time by the clinic's rules; once shown, a result stays shown."""
    if row.release_at is not None and row.release_at <= now:
        return row.release_at
    return selectors.release_time(
        selectors.rule_for(rules, row.category),
        issued=row.issued,
        received=row.received_at,
        reviewed_at=row.reviewed_at,
    )


def record_save(
    *,
    model: type[models.Model],
    clinic: Clinic,
    patient: Patient,
    fields: dict,
    actor,
    row: models.Model | None = None,
    request=None,
    now: dt.datetime | None = None,
) -> tuple[models.Model, bool]:
    """Create or update one row of the record sent by the record system; returns it and
    whether it was created.

    Idempotent: with no ``row`` but an identifier (``fields['source_value']``) this
    clinic already holds, that row is updated. A row never moves to another chart
    (NotSaved). A result's release time follows the clinic's rules (a shown result stays
    shown), and a result shown at once is announced in the same transaction. Atomic;
    two writers of one identifier at once: one wins, the other gets NotSaved (conflict).
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            if row is None and fields.get("source_value"):
                row = (
                    model.objects.for_clinic(clinic)
                    .select_for_update()
                    .filter(
                        source_system=fields.get("source_system", ""),
                        source_value=fields["source_value"],
                    )
                    .first()
                )
            created = row is None
            if created:
                row = model(clinic=clinic, patient=patient, received_at=now)
            elif row.patient_id != patient.pk:
                raise NotSaved("a record's patient cannot change; send it again in error")
            for name, value in fields.items():
                setattr(row, name, value)
            try:
                row.full_clean(exclude=["clinic", "patient", "report", "file"])
            except ValidationError as exc:
                raise NotSaved("; ".join(exc.messages)) from exc
            if isinstance(row, Releasable):
                row.release_at = _release_at(row, selectors.release_rules(clinic), now)
            row.save()
            audit_record(
                action="record.received" if created else "record.updated",
                clinic=clinic,
                actor=actor,
                obj=row,
                acting_for=patient,
                request=request,
            )
            if isinstance(row, Releasable):
                result_notices_send(clinic=clinic, now=now, patient=patient)
    except IntegrityError as exc:
        raise NotSaved("another request wrote this identifier first", conflict=True) from exc
    return row, created


def report_results_link(*, report: DiagnosticReport, observation_ids: list[int]) -> None:
    """Make ``observation_ids`` (the chart's own observations) the report's results; the
    results it listed before and no longer does stand alone again. NotSaved if one is
    not an observation of the report's chart."""
    wanted = set(observation_ids)
    found = set(
        Observation.objects.for_patient(report.patient)
        .filter(pk__in=wanted)
        .values_list("pk", flat=True)
    )
    if found != wanted:
        raise NotSaved("DiagnosticReport.result must name Observations of the same patient")
    with transaction.atomic():
        Observation.objects.for_clinic(report.clinic_id).filter(report=report).exclude(
            pk__in=wanted
        ).update(report=None)
        Observation.objects.for_clinic(report.clinic_id).filter(pk__in=wanted).update(report=report)


def document_content_check(content: bytes) -> None:
    """A document is a PDF (by its first bytes) no larger than the server's limit."""
    limit = settings.PORTAL_RECORD_DOCUMENT_MAX_MB * 1024 * 1024
    if not content:
        raise NotSaved("the attachment is empty")
    if len(content) > limit:
        raise NotSaved(f"the attachment is larger than {settings.PORTAL_RECORD_DOCUMENT_MAX_MB} MB")
    if not content.startswith(PDF_SIGNATURE):
        raise NotSaved("the attachment must be a PDF (application/pdf)")


def document_save(
    *,
    clinic: Clinic,
    patient: Patient,
    fields: dict,
    content: bytes | None,
    actor,
    row: Document | None = None,
    request=None,
) -> tuple[Document, bool]:
    """Create or update a document (``record_save``'s rules) with its PDF: a new one is
    stored under a random name in the attachments' storage; an update without content
    keeps the file it has. A file replaced or left by a rolled-back write is deleted
    after the outcome is known."""
    if content is not None:
        document_content_check(content)
        fields = {
            **fields,
            "size": len(content),
            "sha1": hashlib.sha1(content, usedforsecurity=False).hexdigest(),
            "content_type": "application/pdf",
        }
    elif row is None and not (
        fields.get("source_value")
        and Document.objects.for_clinic(clinic)
        .filter(source_system=fields.get("source_system", ""), source_value=fields["source_value"])
        .exists()
    ):
        raise NotSaved("a new DocumentReference needs its PDF in content.attachment.data")
    stored = []
    try:
        with transaction.atomic():
            if content is not None:
                fields = {**fields, "file": _stored_file(clinic, content, stored)}
            before = row.file.name if row is not None else None
            document, created = record_save(
                model=Document,
                clinic=clinic,
                patient=patient,
                fields=fields,
                actor=actor,
                row=row,
                request=request,
            )
            replaced = before if before and content is not None else None
            if replaced and replaced != document.file.name:
                transaction.on_commit(partial(document.file.storage.delete, replaced))
    except BaseException:
        for name in stored:
            Document.file.field.storage.delete(name)
        raise
    return document, created


def _stored_file(clinic: Clinic, content: bytes, stored: list) -> str:
    storage = Document.file.field.storage
    name = storage.save(
        Document.file.field.generate_filename(Document(clinic=clinic), "document.pdf"),
        ContentFile(content),
    )
    stored.append(name)
    return name


# --- Review and release rules ----------------------------------------------------------------


def result_mark_reviewed(
    *, clinic: Clinic, result: Releasable, reviewed_by: str, actor, request=None, now=None
) -> bool:
    """The clinician has reviewed ``result`` (a report or an observation on its own) of
    ``clinic`` (the caller's: a result of another clinic is not found, ``DoesNotExist``):
    its release time is recomputed and, if that shows it, the patient is told, in one
    transaction with the row locked. False when it was already reviewed (by another
    request too): nothing changes and nothing is sent again. NotSaved for a result in a
    report: it is shown with its report, so the report is what is reviewed."""
    now = now or timezone.now()
    model = type(result)
    if getattr(result, "report_id", None) is not None:
        raise NotSaved("a result in a report is reviewed with its report")
    with transaction.atomic():
        row = model.objects.for_clinic(clinic).select_for_update().get(pk=result.pk)
        if row.reviewed_at is not None:
            return False
        row.reviewed_at, row.reviewed_by = now, reviewed_by[:200]
        row.release_at = _release_at(row, selectors.release_rules(row.clinic_id), now)
        row.save(update_fields=["reviewed_at", "reviewed_by", "release_at"])
        audit_record(
            action="record.reviewed",
            clinic=row.clinic,
            actor=actor,
            obj=row,
            acting_for=row.patient,
            request=request,
        )
        result_notices_send(clinic=row.clinic, now=now, patient=row.patient)
    return True


def release_rules_apply(*, clinic: Clinic, now=None) -> int:
    """After the clinic's rules changed: the release time of every result not yet shown,
    by the new rules (results already shown stay shown). Returns how many changed."""
    now = now or timezone.now()
    rules = selectors.release_rules(clinic)
    changed = 0
    for model in (DiagnosticReport, Observation):
        pending = (
            model.objects.for_clinic(clinic)
            .filter(Q(release_at__isnull=True) | Q(release_at__gt=now))
            .only("pk", "category", "issued", "received_at", "reviewed_at", "release_at")
        )
        updates = []
        for row in pending.iterator(chunk_size=1000):
            release_at = _release_at(row, rules, now)
            if release_at != row.release_at:
                row.release_at = release_at
                updates.append(row)
        model.objects.bulk_update(updates, ["release_at"], batch_size=1000)
        changed += len(updates)
    return changed


# --- The patient ----------------------------------------------------------------------------


class PreferenceNotAllowed(PermissionDenied):
    """The grant may read the results but not choose how they are released."""


def record_preference_set(
    *, access: PatientAccess, wait_for_review: bool, actor, request=None, now=None
) -> RecordPreference:
    """The patient's choice to wait for the clinician's review before seeing new results,
    made through ``access`` (the patient's own grant, or a parent's or guardian's for a
    minor: ``selectors.record_preference_settable``; else PreferenceNotAllowed).
    Results already shown stay shown."""
    now = now or timezone.now()
    patient = access.patient
    policy = access.clinic.portal_settings
    if not selectors.record_preference_settable(
        access=access, policy=policy, today=timezone.localdate(now)
    ):
        raise PreferenceNotAllowed("this grant may not change the result preference")
    with transaction.atomic():
        preference, _created = RecordPreference.objects.select_for_update().get_or_create(
            clinic_id=patient.clinic_id, patient=patient
        )
        if preference.wait_for_review != wait_for_review:
            preference.wait_for_review = wait_for_review
            preference.wait_since = now if wait_for_review else None
            preference.save(update_fields=["wait_for_review", "wait_since"])
            audit_record(
                action="record.preference_changed",
                clinic=patient.clinic,
                actor=actor,
                obj=patient,
                acting_for=patient,
                request=request,
                details={"wait_for_review": wait_for_review},
            )
    return preference


SECTIONS = ("results", "medications", "allergies", "immunizations", "documents")


def health_record_viewed(*, patient: Patient, section: str, actor, request=None, obj=None):
    """Record that ``actor`` read ``section`` of the patient's record (or ``obj`` in it).
    The request's clinic, when given, is the chart's (its access check saw to it): it
    spares a query on every page view."""
    if section not in SECTIONS:
        raise ValueError(section)
    clinic = getattr(request, "clinic", None)
    audit_read(
        action="record.viewed",
        clinic=clinic if clinic is not None and clinic.pk == patient.clinic_id else patient.clinic,
        actor=actor,
        obj=obj or patient,
        acting_for=patient,
        request=request,
        details={"section": section},
    )


def document_record_download(*, document: Document, reader, request=None) -> None:
    """Audit that ``reader`` downloaded a document of the record (call after the access
    check)."""
    audit_record(
        action="record.document_downloaded",
        clinic=document.patient.clinic,
        actor=reader,
        obj=document,
        acting_for=document.patient,
        request=request,
    )


# --- "A new result is available" --------------------------------------------------------------


def result_notices_send(*, now=None, clinic: Clinic | None = None, patient=None) -> int:
    """Tell each patient once that a new result is there, when results become visible to
    them (``results_released_to_patient``): one notice per patient and run, never the
    result, to the patient and to each representative whose grant allows the health
    record (``patients.contacts.notice_recipients``). Each result is announced at most
    once, however many runs overlap: a result is claimed by a conditional update before
    its notice is recorded, in one transaction. Results issued long before they arrived
    (an import of history) are claimed silently. Bounded per run; the periodic task
    calls it for every clinic. Returns notices sent."""
    now = now or timezone.now()
    clinics = [clinic] if clinic is not None else Clinic.objects.filter(is_active=True)
    sent = 0
    for each in clinics:
        sent += _notices_for_clinic(each, now, patient)
    return sent


def _unannounced(model, clinic, now, patient):
    rows = model.objects.for_clinic(clinic).filter(
        notified_at__isnull=True, release_at__lte=now, status__in=SHOWN_RESULT_STATUSES
    )
    if model is Observation:
        rows = rows.filter(report__isnull=True)  # announced with their report
    if patient is not None:
        rows = rows.filter(patient=patient)
    return rows


def _notices_for_clinic(clinic, now, patient) -> int:
    patient_ids = set()
    for model in (DiagnosticReport, Observation):
        rows = _unannounced(model, clinic, now, patient).values_list("patient_id", flat=True)
        patient_ids.update(rows[:NOTICE_BATCH])
    sent = 0
    for chart in Patient.objects.for_clinic(clinic).filter(pk__in=patient_ids).order_by("pk"):
        with transaction.atomic():
            sent += _notice_for_patient(clinic, chart, now)
    return sent


def _notice_for_patient(clinic, chart, now) -> bool:
    released = selectors.results_released_to_patient(patient=chart, now=now)
    fresh = 0
    for model, visible in (
        (DiagnosticReport, released.reports),
        (Observation, released.observations.filter(report__isnull=True)),
    ):
        ids = list(_unannounced(model, clinic, now, chart).filter(pk__in=visible).values("pk"))
        claim = model.objects.for_clinic(clinic).filter(
            pk__in=[row["pk"] for row in ids], notified_at__isnull=True
        )
        old = Q(issued__lt=models.F("received_at") - NOTICE_MAX_AGE)
        fresh += claim.exclude(old).update(notified_at=now)
        claim.filter(old).update(notified_at=now)
    if not fresh:
        return False
    for recipient in notice_recipients(chart, scope=PatientAccess.HEALTH_RECORD):
        notify(
            clinic=clinic,
            channel=recipient.channel,
            recipient=recipient.address,
            template="result_available",
            context={"patient_id": chart.pk},
            language=recipient.language,
        )
    return True


# --- Refill requests ------------------------------------------------------------------------


class RefillRefused(Exception):  # noqa: N818 - what the person is told
    """A refill request, or its answer, breaks a rule; ``rule`` names it (the pages and
    the admin word it): ``not_refillable`` (no active prescription of this chart: pages
    answer 404), ``already_requested``, ``note_required``, ``note_too_long``,
    ``not_plain_text``, ``request_answered``, ``answer_required``, ``answer_too_long``."""

    def __init__(self, rule: str):
        super().__init__(rule)
        self.rule = rule


def _plain_text(text: str, *, limit: int, required: bool, name: str) -> str:
    """``text`` stripped; refused when empty (if ``required``), longer than ``limit``
    or holding a character that does not show as itself (controls, bidi overrides,
    zero-width characters, separators: ``portal.core.identifiers``; a line break or a
    tab is fine)."""
    text = (text or "").strip()
    if required and not text:
        raise RefillRefused(f"{name}_required")
    if len(text) > limit:
        raise RefillRefused(f"{name}_too_long")
    if has_invisible_character(text, allowed="\n\r\t"):
        raise RefillRefused("not_plain_text")
    return text


def refill_request_create(
    *, patient: Patient, medication_id: int, pharmacy_note: str, requested_by, request=None
) -> RefillRequest:
    """The patient asks for a refill of one of their own active prescriptions
    (``selectors.refillable_medications``), with a note for the pharmacy (plain text, at
    most ``RefillRequest.NOTE_MAX_LENGTH``). Whoever posts it, a medication of another
    chart or clinic, or one no longer active, is ``not_refillable``. One request waits
    per medication (``already_requested``): checked under a lock on the medication, and
    held by the database's constraint against two posts at once. Audited (no note, no
    medication name in the event's details)."""
    note = _plain_text(
        pharmacy_note, limit=RefillRequest.NOTE_MAX_LENGTH, required=True, name="note"
    )
    try:
        with transaction.atomic():
            medication = (
                selectors.refillable_medications(patient)
                .select_for_update()
                .filter(pk=medication_id)
                .first()
            )
            if medication is None:
                raise RefillRefused("not_refillable")
            if (
                RefillRequest.objects.for_clinic(patient.clinic_id)
                .pending()
                .filter(medication=medication)
                .exists()
            ):
                raise RefillRefused("already_requested")
            refill_request = RefillRequest.objects.create(
                clinic_id=patient.clinic_id,
                patient=patient,
                medication=medication,
                requested_by=requested_by,
                pharmacy_note=note,
            )
            audit_record(
                action="refill_request.created",
                clinic=patient.clinic,
                actor=requested_by,
                obj=refill_request,
                acting_for=patient,
                request=request,
            )
    except IntegrityError as exc:  # another post for this medication committed first
        raise RefillRefused("already_requested") from exc
    return refill_request


def _locked_pending_refill(refill_request: RefillRequest) -> RefillRequest:
    locked = (
        RefillRequest.objects.for_clinic(refill_request.clinic_id)
        .select_for_update()
        .select_related("clinic", "patient", "medication")
        .get(pk=refill_request.pk)
    )
    if not locked.is_pending:
        raise RefillRefused("request_answered")
    return locked


def _refill_request_decide(*, refill_request, status, answer, decided_by, request, now):
    with transaction.atomic():
        locked = _locked_pending_refill(refill_request)
        locked.status = status
        locked.answer = answer
        locked.decided_by = decided_by
        locked.decided_at = now or timezone.now()
        locked.save(update_fields=["status", "answer", "decided_by", "decided_at"])
        audit_record(
            action=f"refill_request.{status}",
            clinic=locked.clinic,
            actor=decided_by,
            obj=locked,
            acting_for=locked.patient,
            request=request,
        )
        refill_request_decided.send(sender=RefillRequest, refill_request=locked)
        # The notice says only that the clinic answered. It goes to the patient, by their
        # choice for message notices (a message points to the answer), and to each
        # representative whose grant allows the health record, where the answer is.
        for recipient in notice_recipients(
            locked.patient, scope=PatientAccess.HEALTH_RECORD, patient_choice="messages"
        ):
            notify(
                clinic=locked.clinic,
                channel=recipient.channel,
                recipient=recipient.address,
                template="refill_request_answered",
                context={"refill_request_id": locked.pk},
                language=recipient.language,
            )
    return locked


def refill_request_approve(
    *, refill_request: RefillRequest, decided_by, answer: str = "", request=None, now=None
) -> RefillRequest:
    """Staff (the admin) or the record system (a Task completed) approve a waiting
    request, with an optional answer for the patient. In one transaction: the row
    (locked: a request already answered is ``request_answered``, never a second
    decision), the audit event, the clinic's message in the patient's messages
    (``refill_request_decided``) and the notice that the clinic answered."""
    answer = _plain_text(
        answer, limit=RefillRequest.ANSWER_MAX_LENGTH, required=False, name="answer"
    )
    return _refill_request_decide(
        refill_request=refill_request,
        status=RefillRequest.Status.APPROVED,
        answer=answer,
        decided_by=decided_by,
        request=request,
        now=now,
    )


def refill_request_decline(
    *, refill_request: RefillRequest, decided_by, answer: str, request=None, now=None
) -> RefillRequest:
    """As ``refill_request_approve``, declining; the answer (why, and what to do next)
    is required."""
    answer = _plain_text(
        answer, limit=RefillRequest.ANSWER_MAX_LENGTH, required=True, name="answer"
    )
    return _refill_request_decide(
        refill_request=refill_request,
        status=RefillRequest.Status.DECLINED,
        answer=answer,
        decided_by=decided_by,
        request=request,
        now=now,
    )
