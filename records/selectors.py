"""Reads of the health record. What a patient (or anyone acting for them) may see of
their results is decided in one place, ``results_released_to_patient``: every page,
download and notice goes through it.

Selectors only read; ``records.services.health_record_viewed`` records the read in
the audit log, and the pages call it.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Case,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.http import Http404
from django.utils import timezone

from clinics.models import Clinic
from patients.models import Patient, PatientAccess
from records.models import (
    SHOWN_RESULT_STATUSES,
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
    RecordPreference,
    RefillRequest,
    ReleaseRule,
)

# Statuses never shown to a patient, whatever the record: sent in error, or not yet real.
HIDDEN_MEDICATION_STATUSES = ("entered-in-error", "draft")
HIDDEN_ALLERGY_VERIFICATION = ("entered-in-error", "refuted")
HIDDEN_IMMUNIZATION_STATUSES = ("entered-in-error",)
SHOWN_DOCUMENT_STATUSES = ("current",)


# --- Release rules ------------------------------------------------------------------------


def release_rules(clinic: Clinic | int) -> dict[str, ReleaseRule]:
    """The clinic's rules by category ("" for every other category)."""
    return {rule.category: rule for rule in ReleaseRule.objects.for_clinic(clinic)}


def rule_for(rules: dict[str, ReleaseRule], category: str) -> ReleaseRule | None:
    return rules.get((category or "").lower()) or rules.get("")


def release_time(
    rule: ReleaseRule | None,
    *,
    issued: dt.datetime | None,
    received: dt.datetime,
    reviewed_at: dt.datetime | None,
) -> dt.datetime | None:
    """When a result is shown under ``rule`` (None: not until the clinician reviews it).
    With no rule, a result waits for the clinician's review."""
    mode = rule.mode if rule is not None else ReleaseRule.Mode.AFTER_REVIEW
    if mode == ReleaseRule.Mode.AT_ONCE:
        return received
    if mode == ReleaseRule.Mode.AFTER_DAYS:
        after = (issued or received) + dt.timedelta(days=rule.days)
        return min(after, reviewed_at) if reviewed_at is not None else after
    return reviewed_at


# --- What the patient sees ----------------------------------------------------------------


# The default of ``preference`` arguments: not read yet (None: the patient has none).
NOT_READ = object()


def record_preference(patient: Patient) -> RecordPreference | None:
    return RecordPreference.objects.for_clinic(patient.clinic_id).filter(patient=patient).first()


def record_preference_settable(
    *, access: PatientAccess, policy, today: dt.date | None = None
) -> bool:
    """Who may choose to wait for the clinician's review: the patient, or a parent or
    guardian deciding for a minor (younger than the age at which a parent's full access
    ends, ``policy.representative_age_threshold``) whose grant allows the health record.
    A carer, spouse or other representative reads the results as the patient chose."""
    if not access.acts_for_someone_else:
        return True
    today = today or timezone.localdate()
    return (
        access.relationship
        in (PatientAccess.Relationship.PARENT, PatientAccess.Relationship.GUARDIAN)
        and access.patient.age_on(today) < policy.representative_age_threshold
        and access.allows(PatientAccess.HEALTH_RECORD, policy=policy, today=today)
    )


def _released(prefix: str, now: dt.datetime, preference: RecordPreference | None) -> Q:
    shown = Q(**{f"{prefix}release_at__lte": now, f"{prefix}status__in": SHOWN_RESULT_STATUSES})
    if preference is not None and preference.wait_for_review:
        # Reviewed, or shown before the patient chose to wait (it stays shown).
        shown &= Q(**{f"{prefix}reviewed_at__lte": now}) | Q(
            **{f"{prefix}release_at__lt": preference.wait_since or now}
        )
    return shown


def next_release(*, patient: Patient, now: dt.datetime) -> dt.datetime | None:
    """The first moment after ``now`` at which a result of the chart not shown yet is due
    to show by its release time (a report, or a result alone: one in a report shows with
    its report), in one query. None when there is none: a result waiting for the
    clinician's review shows after a write (the review), not at a time. The patient's
    choice to wait for the review may keep a result hidden at that moment; the moment is
    then only an early one, never a late one."""

    def pending(model):
        rows = model.objects.for_patient(patient).filter(
            release_at__gt=now, status__in=SHOWN_RESULT_STATUSES
        )
        if model is Observation:
            rows = rows.filter(report__isnull=True)
        return rows.order_by().values("release_at")

    first = pending(DiagnosticReport).union(pending(Observation)).order_by("release_at")[:1]
    return next((row["release_at"] for row in first), None)


@dataclass(frozen=True)
class ReleasedResults:
    """A chart's results its patient may see now: the reports, and every observation
    (those of a shown report, and those that stand alone), newest first."""

    reports: QuerySet
    observations: QuerySet


def results_released_to_patient(
    *, patient: Patient, now: dt.datetime, preference: RecordPreference | None = NOT_READ
) -> ReleasedResults:
    """The one rule for what of a chart's results is shown to the patient and to whoever
    acts for them: a result is shown from its release time (the clinic's rule for its
    category), when its status is final (or amended, corrected, appended), and, if the
    patient chose to wait for the clinician's review, once reviewed. An observation in a
    report is shown with its report. ``preference`` (``record_preference``'s answer, None
    included) saves a query when the caller has it."""
    if preference is NOT_READ:
        preference = record_preference(patient)
    reports = DiagnosticReport.objects.for_patient(patient).filter(_released("", now, preference))
    observations = (
        Observation.objects.for_patient(patient)
        .filter(status__in=SHOWN_RESULT_STATUSES)
        .filter(
            (Q(report__isnull=True) & _released("", now, preference))
            | (Q(report__isnull=False) & _released("report__", now, preference))
        )
    )
    return ReleasedResults(reports=reports, observations=observations)


# Report groups on one page of the Results page: short enough for a phone, newest first.
RESULT_GROUPS_PER_PAGE = 20


@dataclass(frozen=True)
class ResultGroup:
    """One entry of the Results page: a report with its results, or the results that
    stand alone and were taken on one day (in the reader's time zone), newest first."""

    date: dt.datetime
    report: DiagnosticReport | None
    observations: list

    @property
    def several_alone(self) -> bool:
        """Results alone of one day, more than one: shown under the day, each named."""
        return self.report is None and len(self.observations) > 1


@dataclass(frozen=True)
class ResultsPage:
    """One page of the Results page's groups (a ``Page`` of ``ResultGroup``), and each
    numeric test's values (oldest first) by the id of its newest result."""

    page: Page
    trends: dict[int, list]


def result_groups(reports: list, observations: list) -> list[ResultGroup]:
    """``reports`` with their results, and the results alone gathered by the day they
    were taken: a test repeated every day is one entry a day, and the readings of one
    visit (weight, pressure, glucose) one entry, not one each. Both lists newest first;
    the groups come newest first (a report before results alone of the same moment)."""
    by_report: dict[int, list] = {report.pk: [] for report in reports}
    by_day: dict[dt.date, list] = {}
    for observation in observations:
        if observation.report_id is None:
            by_day.setdefault(timezone.localdate(observation.date), []).append(observation)
        elif observation.report_id in by_report:
            by_report[observation.report_id].append(observation)
    groups = [ResultGroup(report.date, report, by_report[report.pk]) for report in reports]
    groups += [ResultGroup(alone[0].date, None, alone) for alone in by_day.values()]
    groups.sort(key=lambda g: (g.date, g.report is not None, (g.report or g.observations[0]).pk))
    groups.reverse()
    return groups


def result_trends(observations: list) -> dict[int, list]:
    """Each numeric test seen more than once: its values with the unit of its newest
    value, oldest first, by the id of its newest result (``observations`` newest first)."""
    series: dict[tuple, list] = {}
    for observation in observations:  # newest first: the first seen sets the unit
        if observation.value_quantity is None or not observation.code:
            continue
        key = (observation.code_system, observation.code)
        values = series.setdefault(key, [])
        if not values or observation.value_unit == values[0].value_unit:
            values.append(observation)
    return {values[0].pk: list(reversed(values)) for values in series.values() if len(values) > 1}


def results_page(
    *,
    patient: Patient,
    now: dt.datetime,
    preference: RecordPreference | None = NOT_READ,
    page_number=None,
    per_page: int = RESULT_GROUPS_PER_PAGE,
) -> ResultsPage:
    """One page of what the Results page shows, in two queries whatever the number of
    results: the released reports and results (``results_released_to_patient``) in
    groups (``result_groups``), ``per_page`` groups a page (a page number out of range:
    the nearest page), and the trends of the tests seen more than once, drawn from all
    their released values, not only this page's."""
    released = results_released_to_patient(patient=patient, now=now, preference=preference)
    reports = list(released.reports.order_by("-date", "-pk"))
    observations = list(released.observations.order_by("-date", "-pk"))
    page = Paginator(result_groups(reports, observations), per_page).get_page(page_number)
    return ResultsPage(page=page, trends=result_trends(observations))


def medications_for_patient(patient: Patient) -> QuerySet:
    return Medication.objects.for_patient(patient).exclude(status__in=HIDDEN_MEDICATION_STATUSES)


def allergies_for_patient(patient: Patient) -> QuerySet:
    return AllergyIntolerance.objects.for_patient(patient).exclude(
        verification_status__in=HIDDEN_ALLERGY_VERIFICATION
    )


def immunizations_for_patient(patient: Patient) -> QuerySet:
    return Immunization.objects.for_patient(patient).exclude(
        status__in=HIDDEN_IMMUNIZATION_STATUSES
    )


def documents_for_patient(patient: Patient) -> QuerySet:
    return Document.objects.for_patient(patient).filter(status__in=SHOWN_DOCUMENT_STATUSES)


# --- The patient's own pages (records.views_chart) ------------------------------------------

# A medication the patient takes now, or is to take; every other status is past.
CURRENT_MEDICATION_STATUSES = ("active", "on-hold", "intended")


def medications_for_page(patient: Patient) -> QuerySet:
    """The chart's medications, current ones first (``is_current``), then the rest,
    each group newest first."""
    current = Case(
        When(status__in=CURRENT_MEDICATION_STATUSES, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    newest_request = RefillRequest.objects.filter(
        clinic_id=patient.clinic_id, medication=OuterRef("pk")
    ).order_by("-created_at", "-pk")
    refillable = Case(
        When(kind=Medication.Kind.REQUEST, status__in=REFILLABLE_STATUSES, then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    return (
        medications_for_patient(patient)
        .annotate(
            is_current=current,
            is_refillable=refillable,
            refill_status=Subquery(newest_request.values("status")[:1]),
            refill_requested_at=Subquery(newest_request.values("created_at")[:1]),
            refill_decided_at=Subquery(newest_request.values("decided_at")[:1]),
            refill_answer=Subquery(newest_request.values("answer")[:1]),
        )
        .order_by("-is_current", "-date", "-pk")
    )


# A prescription the patient may ask to renew: one still active (not on hold, stopped or
# finished), of their own chart.
REFILLABLE_STATUSES = ("active",)


def refillable_medications(patient: Patient) -> QuerySet:
    """The chart's prescriptions (MedicationRequest) the patient may ask a refill of."""
    return Medication.objects.for_patient(patient).filter(
        kind=Medication.Kind.REQUEST, status__in=REFILLABLE_STATUSES
    )


def get_refillable_medication_for_user(request, pk) -> Medication:
    """An active prescription of the request's chart, whose grant allows the health
    record (a parent asks for a child's refill as the patient would); 404 otherwise
    (another chart or clinic, a medication not active, a grant without the health
    record)."""
    if not request.access.allows(PatientAccess.HEALTH_RECORD):
        raise Http404
    medication = refillable_medications(request.patient).filter(pk=pk).first()
    if medication is None:
        raise Http404
    return medication


def pending_refill_request(medication: Medication) -> RefillRequest | None:
    return (
        RefillRequest.objects.for_clinic(medication.clinic_id)
        .pending()
        .filter(medication=medication)
        .first()
    )


def get_document_for_user(request, pk) -> Document:
    """A document of the request's chart, whose grant allows the health record; 404
    otherwise (another chart or clinic, a document withdrawn, a grant without the
    health record)."""
    if not request.access.allows(PatientAccess.HEALTH_RECORD):
        raise Http404
    document = documents_for_patient(request.patient).filter(pk=pk).first()
    if document is None:
        raise Http404
    document.patient = request.patient
    return document


# --- Staff ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartRecordSummary:
    """What the chart's page in the clinic admin shows of the record: the newest rows of
    each kind (staff see everything, released or not) and how many there are."""

    reports: list
    observations: list
    medications: list
    allergies: list
    immunizations: list
    documents: list
    counts: dict[str, int]


def chart_record_summary(patient: Patient, *, newest: int = 5) -> ChartRecordSummary:
    kinds = {
        "reports": DiagnosticReport,
        "observations": Observation,
        "medications": Medication,
        "allergies": AllergyIntolerance,
        "immunizations": Immunization,
        "documents": Document,
    }
    rows = {
        name: list(model.objects.for_patient(patient).order_by("-date", "-pk")[:newest])
        for name, model in kinds.items()
    }
    counts = {name: model.objects.for_patient(patient).count() for name, model in kinds.items()}
    return ChartRecordSummary(**rows, counts=counts)
