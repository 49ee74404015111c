"""Reads for the API: the clinic's rows with their FHIR version (the newest row of
their history: its id is ``meta.versionId``, its time ``meta.lastUpdated``), and the
search parameters each resource supports."""

import datetime as dt

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils.dateparse import parse_date, parse_datetime

from appointments.models import Appointment, Provider
from clinics.models import Clinic
from fhir_api.representation import STATUS_OF, Invalid, id_type_for_system
from patients.models import Patient, PatientIdentifier
from portal.core.identifiers import canonical_id_number

PREFIXES = {"eq": "", "gt": "__gt", "ge": "__gte", "lt": "__lt", "le": "__lte"}


def with_version(queryset: QuerySet) -> QuerySet:
    history = queryset.model.history.model.objects.filter(id=OuterRef("pk")).order_by("-history_id")
    return queryset.annotate(
        fhir_version=Subquery(history.values("history_id")[:1]),
        fhir_updated=Subquery(history.values("history_date")[:1]),
    )


def _prefixed(value: str) -> tuple[str, str]:
    prefix = value[:2]
    if prefix in PREFIXES and len(value) > 2 and not value[:2].isdigit():
        return PREFIXES[prefix], value[2:]
    return "", value


def _moment(text: str, tz) -> tuple[dt.datetime, dt.datetime, bool]:
    """The instants a FHIR date or dateTime covers, [start, end), and whether it was a
    whole day."""
    day = parse_date(text) if len(text) == 10 else None
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
        wanted = PatientIdentifier.objects.for_clinic(clinic).filter(
            number=canonical_id_number(number)
        )
        if bar and system:
            wanted = wanted.filter(id_type_id=id_type_for_system(clinic, system))
        rows = rows.filter(pk__in=wanted.values("patient_id"))
    for value in params.getlist("name"):
        rows = rows.filter(Q(first_name__istartswith=value) | Q(last_name__istartswith=value))
    for value in params.getlist("birthdate"):
        lookup, text = _prefixed(value)
        day = parse_date(text)
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


def appointments_for(clinic: Clinic) -> QuerySet:
    return with_version(
        Appointment.objects.for_clinic(clinic).select_related("provider", "appointment_type")
    ).order_by("pk")


def appointment_search(clinic: Clinic, params) -> QuerySet:
    rows = appointments_for(clinic)
    for value in params.getlist("patient"):
        number = value.removeprefix("Patient/")
        if not number.isdigit():
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
