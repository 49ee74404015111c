"""Reads for the API: the clinic's rows with their FHIR version (the newest row of
their history: its id is ``meta.versionId``, its time ``meta.lastUpdated``), and the
search parameters each resource supports."""

import datetime as dt

from django.db.models import BooleanField, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from appointments.models import Appointment, AppointmentRequest, Provider
from appointments.selectors import free_slots
from clinics.models import Clinic
from fhir_api.representation import (
    STATUS_OF,
    TASK_CODE_SYSTEM,
    TASK_STATUSES,
    Invalid,
    id_type_for_system,
    is_number,
)
from messaging.models import Message
from patients.models import ChangeRequest, Patient, PatientAccess, PatientIdentifier
from portal.core.identifiers import InvalidIdentifier, canonical_id_number
from records.models import RefillRequest

PREFIXES = {"eq": "", "gt": "__gt", "ge": "__gte", "lt": "__lt", "le": "__lte"}


def with_version(queryset: QuerySet) -> QuerySet:
    history = queryset.model.history.model.objects.filter(id=OuterRef("pk")).order_by("-history_id")
    return queryset.annotate(
        fhir_version=Subquery(history.values("history_id")[:1]),
        fhir_updated=Subquery(history.values("history_date")[:1]),
    )


def _prefixed(value: str) -> tuple[str, str]:
    prefix = value[:2]
    if prefix in PREFIXES and len(value) > 2 and not is_number(value[:2]):
        return PREFIXES[prefix], value[2:]
    return "", value


def _moment(text: str, tz) -> tuple[dt.datetime, dt.datetime, bool]:
    """The instants a FHIR date or dateTime covers, [start, end), and whether it was a
    whole day."""
    try:
        day = parse_date(text) if len(text) == 10 else None
    except ValueError:
        raise Invalid(f"not a date of the calendar: {text}") from None
    if day is not None:
        start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
        return start, start + dt.timedelta(days=1), True
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid(f"not a date or a dateTime with a time zone: {text}")
    return moment, moment + dt.timedelta(seconds=1), False


def _time_filter(field: str, values: list[str], tz) -> Q:
    """FHIR date search: ``eq`` (no prefix) is the day or second given; ``gt``, ``ge``,
    ``lt`` and ``le`` compare with a whole day's bounds, or with the instant itself."""
    condition = Q()
    for value in values:
        lookup, text = _prefixed(value)
        start, end, whole_day = _moment(text, tz)
        if lookup == "":
            condition &= Q(**{f"{field}__gte": start, f"{field}__lt": end})
        elif whole_day:
            bound = {
                "__gt": ("__gte", end),
                "__gte": ("__gte", start),
                "__lt": ("__lt", start),
                "__lte": ("__lt", end),
            }[lookup]
            condition &= Q(**{f"{field}{bound[0]}": bound[1]})
        else:
            condition &= Q(**{f"{field}{lookup}": start})
    return condition


def patients_for(clinic: Clinic) -> QuerySet:
    return (
        with_version(Patient.objects.for_clinic(clinic))
        .prefetch_related("identifiers")
        .order_by("pk")
    )


def patient_search(clinic: Clinic, params) -> QuerySet:
    rows = patients_for(clinic)
    for value in params.getlist("identifier"):
        system, bar, number = value.rpartition("|")
        try:
            canonical = canonical_id_number(number)
        except InvalidIdentifier as exc:
            raise Invalid(f"identifier must be an ID number: {value}") from exc
        wanted = PatientIdentifier.objects.for_clinic(clinic).filter(number=canonical)
        if bar and system:
            wanted = wanted.filter(id_type_id=id_type_for_system(clinic, system))
        rows = rows.filter(pk__in=wanted.values("patient_id"))
    for value in params.getlist("name"):
        rows = rows.filter(Q(first_name__istartswith=value) | Q(last_name__istartswith=value))
    for value in params.getlist("birthdate"):
        lookup, text = _prefixed(value)
        try:
            day = parse_date(text)
        except ValueError:  # well formed, not a day of the calendar (2026-02-30)
            day = None
        if day is None:
            raise Invalid(f"birthdate must be a date: {value}")
        rows = rows.filter(**{f"date_of_birth{lookup}": day})
    if "_lastUpdated" in params:
        rows = rows.filter(_time_filter("fhir_updated", params.getlist("_lastUpdated"), clinic.tz))
    return rows


def practitioners_for(clinic: Clinic) -> QuerySet:
    return Provider.objects.for_clinic(clinic).order_by("pk")


def practitioner_search(clinic: Clinic, params) -> QuerySet:
    rows = practitioners_for(clinic)
    for value in params.getlist("name"):
        rows = rows.filter(name__icontains=value)
    return rows


def schedules_for(clinic: Clinic) -> QuerySet:
    return Provider.objects.for_clinic(clinic).prefetch_related("appointment_types").order_by("pk")


def schedule_search(clinic: Clinic, params) -> QuerySet:
    rows = schedules_for(clinic)
    for value in params.getlist("actor"):
        number = value.removeprefix("Practitioner/")
        if not is_number(number):
            raise Invalid(f"actor must be a Practitioner id: {value}")
        rows = rows.filter(pk=int(number))
    return rows


MAX_SLOT_DAYS = 31


def slot_search(clinic: Clinic, params, *, now=None) -> list[dict]:
    """Free slots (the times a booking would be accepted: hours, exceptions and visits,
    as the portal offers them) and busy ones (the active visits) of one Schedule, over a
    bounded range of whole days: ``start=ge<date>`` and ``start=lt<date>``, at most 31
    days; ``status`` free or busy."""
    schedules = params.getlist("schedule")
    if len(schedules) != 1 or not is_number(schedules[0].removeprefix("Schedule/")):
        raise Invalid("give one schedule (Schedule/<id>)")
    provider = (
        Provider.objects.for_clinic(clinic)
        .filter(pk=int(schedules[0].removeprefix("Schedule/")))
        .prefetch_related("appointment_types")
        .first()
    )
    first = last = None
    for value in params.getlist("start"):
        lookup, text = _prefixed(value)
        day = parse_date(text)
        if day is None or lookup not in ("__gte", "__lt"):
            raise Invalid("start must be ge<date> and lt<date>")
        if lookup == "__gte":
            first = day
        else:
            last = day
    if first is None or last is None or not 0 < (last - first).days <= MAX_SLOT_DAYS:
        raise Invalid(f"start needs ge<date> and lt<date>, at most {MAX_SLOT_DAYS} days apart")
    statuses = {s for value in params.getlist("status") for s in value.split(",")} or {
        "free",
        "busy",
    }
    if not statuses <= {"free", "busy"}:
        raise Invalid("status must be free or busy")
    if provider is None:
        return []
    slots = []
    if "free" in statuses:
        for kind in provider.appointment_types.all():
            if not kind.is_active:
                continue
            length = dt.timedelta(minutes=kind.duration_minutes)
            opened = free_slots(
                provider=provider,
                appointment_type=kind,
                start_date=first,
                days=(last - first).days,
                now=now,
            )
            for starts in opened.values():
                for start in starts:
                    slots.append(
                        {
                            "provider_id": provider.pk,
                            "kind": kind,
                            "start": start,
                            "end": start + length,
                            "status": "free",
                            "slot_id": f"{provider.pk}-{kind.pk}-{start:%Y%m%d%H%M}",
                        }
                    )
    if "busy" in statuses:
        tz = clinic.tz
        window = (
            dt.datetime.combine(first, dt.time.min, tzinfo=tz),
            dt.datetime.combine(last, dt.time.min, tzinfo=tz),
        )
        visits = (
            Appointment.objects.for_clinic(clinic)
            .active()
            .filter(provider=provider, start__lt=window[1], end__gt=window[0])
            .select_related("appointment_type")
        )
        for visit in visits:
            slots.append(
                {
                    "provider_id": provider.pk,
                    "kind": visit.appointment_type,
                    "start": visit.start,
                    "end": visit.end,
                    "status": "busy",
                    "slot_id": f"busy-{visit.pk}",
                }
            )
    return sorted(slots, key=lambda slot: (slot["start"], slot["slot_id"]))


def appointments_for(clinic: Clinic) -> QuerySet:
    return with_version(
        Appointment.objects.for_clinic(clinic).select_related("provider", "appointment_type")
    ).order_by("pk")


def appointment_search(clinic: Clinic, params) -> QuerySet:
    rows = appointments_for(clinic)
    for value in params.getlist("patient"):
        number = value.removeprefix("Patient/")
        if not is_number(number):
            raise Invalid(f"patient must be a Patient id: {value}")
        rows = rows.filter(patient_id=int(number))
    if "date" in params:
        rows = rows.filter(_time_filter("start", params.getlist("date"), clinic.tz))
    for value in params.getlist("status"):
        statuses = [STATUS_OF.get(code) for code in value.split(",")]
        rows = rows.filter(status__in=[s for s in statuses if s])
    if "_lastUpdated" in params:
        rows = rows.filter(_time_filter("fhir_updated", params.getlist("_lastUpdated"), clinic.tz))
    return rows


# --- Task -------------------------------------------------------------------------------


def _with_task_columns(queryset: QuerySet, clinic: Clinic) -> QuerySet:
    """Each request with the grant of the representative who made it (None when the
    patient asked themselves) and the time of its last change (``_lastUpdated``)."""
    grant = (
        PatientAccess.objects.for_clinic(clinic)
        .filter(user=OuterRef("requested_by"), patient=OuterRef("patient"))
        .exclude(relationship=PatientAccess.Relationship.SELF)
        .order_by("-pk")
        .values("pk")[:1]
    )
    return queryset.annotate(
        requester_grant_id=Subquery(grant),
        task_updated=Coalesce("decided_at", "created_at"),
    ).order_by("pk")


def change_request_tasks(clinic: Clinic) -> QuerySet:
    """The clinic's requests to change chart details (not registrations or identity
    confirmations), as ``representation.change_request_task`` reads them."""
    rows = ChangeRequest.objects.for_clinic(clinic).filter(kind=ChangeRequest.Kind.CHANGE)
    return _with_task_columns(rows.select_related("patient").prefetch_related("items"), clinic)


def appointment_request_tasks(clinic: Clinic) -> QuerySet:
    rows = AppointmentRequest.objects.for_clinic(clinic).select_related(
        "patient", "provider", "appointment_type"
    )
    return _with_task_columns(rows, clinic)


def refill_request_tasks(clinic: Clinic) -> QuerySet:
    rows = RefillRequest.objects.for_clinic(clinic).select_related("medication")
    return _with_task_columns(rows, clinic)


def task_search(
    clinic: Clinic, params, *, rows: QuerySet, code: str, statuses: dict
) -> QuerySet | None:
    """``rows`` (one kind of request, Task ``code``, its statuses mapped to Task ones by
    ``statuses``) narrowed by ``status``, ``_lastUpdated``, ``patient`` and ``code``;
    None when ``code`` leaves this kind out."""
    for value in params.getlist("code"):
        wanted = set()
        for token in value.split(","):
            system, bar, name = token.rpartition("|")
            if not bar or system in ("", TASK_CODE_SYSTEM):
                wanted.add(name)
        if code not in wanted:
            return None
    for value in params.getlist("status"):
        asked = set(value.split(","))
        if not asked <= TASK_STATUSES:
            raise Invalid(f"status must be Task statuses: {value}")
        if "in-progress" in asked:
            asked.add("requested")
        rows = rows.filter(status__in=[ours for ours, fhir in statuses.items() if fhir in asked])
    for value in params.getlist("patient"):
        number = value.removeprefix("Patient/")
        if not is_number(number):
            raise Invalid(f"patient must be a Patient id: {value}")
        rows = rows.filter(patient_id=int(number))
    if "_lastUpdated" in params:
        rows = rows.filter(_time_filter("task_updated", params.getlist("_lastUpdated"), clinic.tz))
    return rows


# --- RelatedPerson ----------------------------------------------------------------------


def _patient_ids(params, name: str) -> list[int]:
    numbers = []
    for value in params.getlist(name):
        number = value.removeprefix("Patient/")
        if not is_number(number):
            raise Invalid(f"{name} must be a Patient id: {value}")
        numbers.append(int(number))
    return numbers


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February, in a year without one
        return day.replace(year=day.year - years, day=28)


def grant_works(clinic: Clinic) -> Q:
    """The grants that work today, as ``patients.selectors.usable_grants`` decides for
    the account: not revoked, not expired, the account active, and not a parent's or
    guardian's grant ended by the child's age (``PatientAccess.ended_by_age``)."""
    now = timezone.now()
    today = timezone.localdate(now, clinic.tz)
    threshold = clinic.portal_settings.representative_age_threshold
    came_of_age = Q(
        relationship__in=[PatientAccess.Relationship.PARENT, PatientAccess.Relationship.GUARDIAN],
        adult_access_confirmed_at__isnull=True,
        patient__date_of_birth__lte=_years_before(today, threshold),
    )
    return (
        Q(revoked_at__isnull=True, user__is_active=True)
        & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        & ~came_of_age
    )


def related_people_for(clinic: Clinic) -> QuerySet:
    """The clinic's representatives' grants (every state; ``self`` grants are the
    patients themselves), with ``fhir_active`` (the grant works today) and the version;
    the clinic's policy comes along, as the health-record scope depends on it
    (``PatientAccess.allows``)."""
    return (
        with_version(PatientAccess.objects.for_clinic(clinic))
        .exclude(relationship=PatientAccess.Relationship.SELF)
        .select_related("user", "patient", "clinic__portal_settings")
        .annotate(fhir_active=ExpressionWrapper(grant_works(clinic), output_field=BooleanField()))
        .order_by("pk")
    )


def related_person_search(clinic: Clinic, params) -> QuerySet:
    rows = related_people_for(clinic)
    for number in _patient_ids(params, "patient"):
        rows = rows.filter(patient_id=number)
    for value in params.getlist("active"):
        if value not in ("true", "false"):
            raise Invalid(f"active must be true or false: {value}")
        rows = rows.filter(fhir_active=value == "true")
    if "_lastUpdated" in params:
        rows = rows.filter(_time_filter("fhir_updated", params.getlist("_lastUpdated"), clinic.tz))
    return rows


# --- Communication ----------------------------------------------------------------------


def communications_for(clinic: Clinic) -> QuerySet:
    """The clinic's messages with their thread and attachments, and two columns the
    Communication needs: ``fhir_previous_id`` (the message before it in its thread) and
    ``fhir_representative_id`` (the grant a representative wrote with: their newest
    grant to the chart made before the message)."""
    previous = (
        Message.objects.filter(thread=OuterRef("thread"))
        .filter(
            Q(created_at__lt=OuterRef("created_at"))
            | Q(created_at=OuterRef("created_at"), pk__lt=OuterRef("pk"))
        )
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    representative = (
        PatientAccess.objects.filter(
            user=OuterRef("author"),
            patient=OuterRef("thread__patient"),
            created_at__lte=OuterRef("created_at"),
        )
        .exclude(relationship=PatientAccess.Relationship.SELF)
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    return (
        Message.objects.for_clinic(clinic)
        .select_related("thread__patient")
        .prefetch_related("attachments")
        .annotate(
            fhir_previous_id=Subquery(previous), fhir_representative_id=Subquery(representative)
        )
        .order_by("pk")
    )


def communication_search(clinic: Clinic, params) -> QuerySet:
    rows = communications_for(clinic)
    for name in ("patient", "subject"):
        for number in _patient_ids(params, name):
            rows = rows.filter(thread__patient_id=number)
    if "sent" in params:
        rows = rows.filter(_time_filter("created_at", params.getlist("sent"), clinic.tz))
    if "_lastUpdated" in params:
        rows = rows.filter(_time_filter("created_at", params.getlist("_lastUpdated"), clinic.tz))
    return rows
