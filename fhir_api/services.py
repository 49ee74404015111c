"""Writes the API makes, each on the portal's own services and rules: charts from
Patient resources, and visits booked, cancelled and marked through
``appointments.services`` exactly as the admin does (staff rules, no override)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from simple_history.utils import bulk_create_with_history

from appointments import services as booking
from appointments.models import Appointment, AppointmentType, Provider
from clinics.models import Clinic
from fhir_api.representation import (
    Invalid,
    appointment_fields,
    identifier_systems,
    patient_fields,
)
from patients.models import Patient, PatientIdentifier
from portal.audit.services import audit_record, audit_record_each


class Conflict(Exception):  # noqa: N818 - an HTTP 409
    pass


class RuleBroken(Exception):  # noqa: N818 - an HTTP 422 naming the booking rule
    def __init__(self, rule: str):
        super().__init__(rule)
        self.rule = rule


def _set_identifiers(clinic: Clinic, patient: Patient, identifiers) -> None:
    kept = []
    for id_type_id, number in identifiers:
        identifier, _created = PatientIdentifier.objects.get_or_create(
            clinic=clinic, patient=patient, id_type_id=id_type_id, number=number
        )
        kept.append(identifier.pk)
    PatientIdentifier.objects.for_clinic(clinic).filter(patient=patient).exclude(
        pk__in=kept
    ).delete()


def _checked(patient: Patient) -> Patient:
    try:
        patient.full_clean(exclude=["clinic", "primary_provider", "category"])
    except ValidationError as exc:
        raise Invalid("; ".join(exc.messages)) from exc
    return patient


def patients_create_from_fhir(
    *, clinic: Clinic, resources: list[dict], actor, request=None
) -> list[Patient]:
    """New charts from Patient resources (one POST, or a transaction Bundle's new
    Patients), in their order. Every resource is read and checked first, as
    ``patient_save_from_fhir`` checks an update; then the charts, their ID numbers, the
    history of both (authored by ``actor``) and one audit event per chart are written a
    table at a time, so an import of a thousand charts costs a few statements, not
    thousands. Atomic; an ID number another chart holds, or two of the resources share, is
    a Conflict. A new chart has no grants yet, so no account's cached grants change."""
    systems = identifier_systems(clinic)
    charts = []
    for data in resources:
        fields, identifiers = patient_fields(data, clinic, systems)
        # The same (type, number) twice on one resource is one identifier.
        charts.append((_checked(Patient(clinic=clinic, **fields)), dict.fromkeys(identifiers)))
    if not charts:
        return []
    try:
        with transaction.atomic():
            patients = bulk_create_with_history(
                [patient for patient, _identifiers in charts], Patient, default_user=actor
            )
            numbers = [
                PatientIdentifier(
                    clinic=clinic, patient=patient, id_type_id=id_type_id, number=number
                )
                for patient, identifiers in charts
                for id_type_id, number in identifiers
            ]
            if numbers:
                bulk_create_with_history(numbers, PatientIdentifier, default_user=actor)
            audit_record_each(
                action="patient.created_by_api",
                objs=patients,
                clinic=clinic,
                actor=actor,
                request=request,
                for_each_chart=True,
            )
    except IntegrityError as exc:
        raise Conflict("an identifier of this chart belongs to another chart") from exc
    return patients


def patient_save_from_fhir(
    *, clinic: Clinic, data: dict, actor, patient: Patient | None = None, request=None
) -> Patient:
    """Create a chart (``patient`` None: ``patients_create_from_fhir``) or replace one's
    demographics and identifiers with a Patient resource. Atomic; an ID number another
    chart holds is a Conflict."""
    if patient is None:
        (created,) = patients_create_from_fhir(
            clinic=clinic, resources=[data], actor=actor, request=request
        )
        return created
    fields, identifiers = patient_fields(data, clinic)
    try:
        with transaction.atomic():
            patient = Patient.objects.for_clinic(clinic).select_for_update().get(pk=patient.pk)
            for name, value in fields.items():
                setattr(patient, name, value)
            _checked(patient).save()
            _set_identifiers(clinic, patient, identifiers)
            audit_record(
                action="patient.changed",
                clinic=clinic,
                actor=actor,
                obj=patient,
                acting_for=patient,
                request=request,
            )
    except IntegrityError as exc:
        raise Conflict("an identifier of this chart belongs to another chart") from exc
    return patient


def _booking_parts(clinic: Clinic, fields: dict):
    patient = Patient.objects.for_clinic(clinic).filter(pk=fields["patient_id"]).first()
    provider = Provider.objects.for_clinic(clinic).filter(pk=fields["provider_id"]).first()
    kind = (
        AppointmentType.objects.for_clinic(clinic).filter(pk=fields["appointment_type_id"]).first()
    )
    if patient is None or provider is None or kind is None:
        raise Invalid("the patient, practitioner or appointment type is not of this clinic")
    return patient, provider, kind


def appointment_create_from_fhir(
    *, clinic: Clinic, data: dict, actor, local=None, request=None
) -> Appointment:
    """Book through ``appointments.services.appointment_book`` with the staff rules
    (no rule booked over): a taken slot is a Conflict, another broken rule RuleBroken."""
    fields = appointment_fields(data, local)
    if fields["status"] != Appointment.Status.BOOKED:
        raise Invalid("a new Appointment must be booked")
    patient, provider, kind = _booking_parts(clinic, fields)
    try:
        return booking.appointment_book(
            patient=patient,
            provider=provider,
            appointment_type=kind,
            start=fields["start"],
            reason=fields["reason"],
            booked_by=actor,
            request=request,
            by_staff=True,
        )
    except booking.SlotTaken as exc:
        raise Conflict("the practitioner already has a visit then") from exc
    except booking.NotAllowed as exc:
        raise RuleBroken(exc.rule) from exc


def appointment_update_from_fhir(
    *, clinic: Clinic, appointment: Appointment, data: dict, actor, request=None
) -> Appointment:
    """An update may change the status only (cancelled, fulfilled, noshow), through the
    booking services; moving a visit is a cancellation and a new booking."""
    fields = appointment_fields(data)
    same = (
        fields["patient_id"] == appointment.patient_id
        and fields["provider_id"] == appointment.provider_id
        and fields["appointment_type_id"] == appointment.appointment_type_id
        and fields["start"] == appointment.start
    )
    if not same:
        raise Invalid("only the status of an Appointment may change; book a new one to move it")
    status = fields["status"]
    if status == appointment.status:
        return appointment
    if appointment.status != Appointment.Status.BOOKED:
        raise RuleBroken("not_booked")
    if status == Appointment.Status.CANCELLED:
        done = booking.appointment_cancel(
            appointment=appointment, cancelled_by=actor, request=request, by_staff=True
        )
    else:
        done = booking.appointment_mark(
            appointment=appointment, status=status, marked_by=actor, request=request
        )
    if not done:
        # Another writer changed the visit first: its change stands, this one is refused.
        raise Conflict("the Appointment has changed; read it again")
    return Appointment.objects.get(pk=appointment.pk)
