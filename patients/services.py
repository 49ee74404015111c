"""Writes on charts: ``chart_create``, the one way a new chart is made with its ID numbers
and contacts — the admin's Quick Add, the chart import (CSV) and the FHIR API's Patient
create all call it, so the rules for a new chart live here."""

from collections.abc import Iterable, Mapping
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from simple_history.utils import bulk_create_with_history

from clinics.models import Clinic, IdentifierType
from patients.models import Patient, PatientIdentifier
from portal.audit.services import audit_record
from portal.core.fields import EMAIL_ERROR, ID_NUMBER_ERROR
from portal.core.identifiers import (
    InvalidIdentifier,
    canonical_email,
    canonical_id_number,
    canonical_mobile,
)
from portal.core.phones import phone_error

ID_NUMBER_MAX_LENGTH = PatientIdentifier._meta.get_field("number").max_length


class IdentifierTaken(Exception):  # noqa: N818 - the condition callers report
    """Another chart of the clinic holds one of the ID numbers (perhaps written meanwhile)."""


def _canonical_identifiers(
    clinic: Clinic,
    identifiers: list[tuple[IdentifierType | int, str]],
    id_type_ids: set[int] | None = None,
) -> list[tuple[int, str]]:
    pairs: list[tuple[int, str]] = []
    by_id: set[int] = set()  # ID types given by their id, checked in one query
    for id_type, number in identifiers:
        if isinstance(id_type, IdentifierType):
            if id_type.clinic_id != clinic.pk:
                raise ValidationError({"identifiers": "an ID type of another clinic"})
            type_id = id_type.pk
        else:
            type_id = int(id_type)
            by_id.add(type_id)
        try:
            canonical = canonical_id_number(number)
        except InvalidIdentifier as exc:
            raise ValidationError({"identifiers": ID_NUMBER_ERROR}) from exc
        if not canonical or len(canonical) > ID_NUMBER_MAX_LENGTH:
            raise ValidationError({"identifiers": ID_NUMBER_ERROR})
        if (type_id, canonical) not in pairs:  # the same ID twice is one ID
            pairs.append((type_id, canonical))
    if by_id and id_type_ids is not None:  # the caller read the clinic's types once
        if not by_id <= id_type_ids:
            raise ValidationError({"identifiers": "an ID type of another clinic"})
    elif by_id:
        known = IdentifierType.objects.for_clinic(clinic).filter(pk__in=by_id)
        if len(by_id) != known.count():
            raise ValidationError({"identifiers": "an ID type of another clinic"})
    return pairs


def chart_contacts(*, clinic: Clinic, email: str, mobile: str) -> tuple[str, str]:
    """A chart's email and mobile as stored: canonical, the mobile read with the clinic's
    country ("" stays ""); a ValidationError naming the field otherwise."""
    if email:
        try:
            email = canonical_email(email)
        except InvalidIdentifier as exc:
            raise ValidationError({"email": EMAIL_ERROR}) from exc
    if mobile:
        try:
            mobile = canonical_mobile(str(mobile), clinic.country)
        except InvalidIdentifier as exc:
            raise ValidationError({"mobile": phone_error(clinic.country, mobile=True)}) from exc
    return email or "", mobile or ""


def chart_prepare(
    *,
    clinic: Clinic,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    sex: str = Patient.Sex.UNKNOWN,
    email: str = "",
    mobile: str = "",
    identifiers: Iterable[tuple[IdentifierType | int, str]] = (),
    details: Mapping[str, object] | None = None,
    id_type_ids: set[int] | None = None,
) -> tuple[Patient, list[tuple[int, str]]]:
    """The new chart (unsaved) and its ID numbers as (type id, canonical number), checked
    as every new chart is: the email and the mobile (read with the clinic's country) and
    each ID number made canonical (``portal.core.identifiers``), every ID type one of
    ``clinic``'s, the chart's own fields valid. A value that fails is a
    ``ValidationError`` naming the field. Writes nothing. ``id_type_ids``, the clinic's
    ID type ids, spares a query per chart to a caller checking many."""
    fields = dict(details or {})
    email, mobile = chart_contacts(clinic=clinic, email=email, mobile=mobile)
    pairs = _canonical_identifiers(clinic, list(identifiers), id_type_ids)
    patient = Patient(
        clinic=clinic,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
        sex=sex or Patient.Sex.UNKNOWN,
        email=email,
        mobile=mobile,
        **fields,
    )
    patient.full_clean(exclude=["clinic", "primary_provider", "category"])
    return patient, pairs


def chart_create(
    *,
    clinic: Clinic,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    sex: str = Patient.Sex.UNKNOWN,
    email: str = "",
    mobile: str = "",
    identifiers: Iterable[tuple[IdentifierType | int, str]] = (),
    details: Mapping[str, object] | None = None,
) -> Patient:
    """Create a chart of ``clinic`` with its ID numbers (type + number) and contacts.

    Guarantees, whoever calls it (staff in the admin, an import, the record system):

    - the chart is checked by ``chart_prepare`` (canonical contacts and ID numbers, the
      clinic's ID types, the chart's fields); a failure is a ``ValidationError`` naming
      the field, and nothing is written;
    - the chart and its IDs are written together (atomic; a savepoint inside the caller's
      transaction), each with its history row; an ID another chart of the clinic holds —
      already, or written by someone else meanwhile (the database's unique constraint
      decides) — is ``IdentifierTaken`` and nothing of this chart is written.

    ``details`` carries any other field of the chart (address, status, home phone, …).
    It does not audit: each caller records its own event (one per chart from the admin
    and the API, one per file from the import) in the same transaction.
    """
    patient, pairs = chart_prepare(
        clinic=clinic,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
        sex=sex,
        email=email,
        mobile=mobile,
        identifiers=identifiers,
        details=details,
    )
    try:
        with transaction.atomic():
            patient.save()
            for type_id, number in pairs:
                PatientIdentifier.objects.create(
                    clinic=clinic, patient=patient, id_type_id=type_id, number=number
                )
    except IntegrityError as exc:
        patient.pk = None
        raise IdentifierTaken from exc
    return patient


def charts_create(
    *, clinic: Clinic, prepared: list[tuple[Patient, list[tuple[int, str]]]], history_user=None
) -> list[Patient]:
    """Write many charts checked by ``chart_prepare`` (a transaction Bundle of the record
    system) a table at a time: the charts, their ID numbers and the history rows of both
    (``history_user`` their author), in a few statements whatever their number. Atomic;
    an ID another chart holds, or two of the charts share, is ``IdentifierTaken`` and
    nothing is written. Sends no model signals: a new chart has no grants or cached
    pages yet. It does not audit (the caller does, per chart)."""
    try:
        with transaction.atomic():
            patients = bulk_create_with_history(
                [patient for patient, _pairs in prepared], Patient, default_user=history_user
            )
            numbers = [
                PatientIdentifier(clinic=clinic, patient=patient, id_type_id=type_id, number=number)
                for patient, (_unsaved, pairs) in zip(patients, prepared, strict=True)
                for type_id, number in pairs
            ]
            if numbers:
                bulk_create_with_history(numbers, PatientIdentifier, default_user=history_user)
    except IntegrityError as exc:
        raise IdentifierTaken from exc
    return patients


class ImportRaced(Exception):  # noqa: N818 - the condition the page reports
    """A row's ID was given to another chart after the preview: nothing was imported."""

    def __init__(self, row_number: int):
        super().__init__(row_number)
        self.row_number = row_number


def charts_import(*, clinic: Clinic, plan, imported_by, request=None) -> int:
    """Create the charts of ``plan`` (``patients.chart_import.Plan``) that it says will be
    created, all or none: one transaction, each chart through ``chart_create``. Rows with
    errors or duplicates are left out (the preview said so). If any chart cannot be
    created now (another chart took its ID since the preview: the unique constraint
    decides, so two imports of the same ID at once make one chart), nothing is written and
    ``ImportRaced`` names its row. One audit event, with counts only — no names, dates or
    numbers. Returns how many charts were created. Who may call it: staff with
    ``patients.import_charts`` of ``clinic`` (the view checks)."""
    with transaction.atomic():
        created = 0
        for row in plan.to_create:
            try:
                chart_create(
                    clinic=clinic,
                    first_name=row.first_name,
                    last_name=row.last_name,
                    date_of_birth=row.date_of_birth,
                    sex=row.sex,
                    email=row.email,
                    mobile=row.mobile,
                    identifiers=[(row.id_type, row.id_number)],
                )
            except IdentifierTaken as exc:
                raise ImportRaced(row.number) from exc
            created += 1
        counts = plan.counts()
        audit_record(
            action="patient.imported",
            clinic=clinic,
            actor=imported_by,
            request=request,
            details={
                "rows": counts["rows"],
                "created": created,
                "possible_duplicates": counts["possible_duplicates"],
                "duplicates_left_out": counts["duplicates"],
                "errors_left_out": counts["errors"],
            },
        )
    return created
