"""Writes the API makes, each on the portal's own services and rules: charts from
Patient resources, and visits booked, cancelled and marked through
``appointments.services`` exactly as the admin does (staff rules, no override)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from appointments import services as booking
from appointments.models import Appointment, AppointmentRequest, AppointmentType, Provider
from clinics.models import Clinic
from fhir_api.representation import (
    Invalid,
    appointment_fields,
    booking_outputs,
    communication_fields,
    identifier_systems,
    patient_fields,
    refill_answer_output,
)
from messaging import services as messaging
from messaging.forms import StaffNewThreadForm, StaffReplyForm
from messaging.models import Message, Thread
from patients import demographics
from patients.models import ChangeRequest, Patient, PatientIdentifier
from patients.services import (
    IdentifierTaken,
    chart_contacts,
    chart_prepare,
    charts_create,
)
from portal.audit.services import audit_record, audit_record_each
from records import services as records
from records.models import RefillRequest


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


def _prepared(clinic: Clinic, fields: dict, identifiers, id_type_ids: set[int]):
    try:
        return chart_prepare(
            clinic=clinic,
            first_name=fields.pop("first_name"),
            last_name=fields.pop("last_name"),
            date_of_birth=fields.pop("date_of_birth"),
            sex=fields.pop("sex"),
            email=fields.pop("email"),
            mobile=fields.pop("mobile"),
            identifiers=identifiers,
            details=fields,
            id_type_ids=id_type_ids,
        )
    except ValidationError as exc:
        raise Invalid("; ".join(exc.messages)) from exc


def patients_create_from_fhir(
    *, clinic: Clinic, resources: list[dict], actor, request=None
) -> list[Patient]:
    """New charts from Patient resources (one POST, or a transaction Bundle's new
    Patients), in their order. Every resource is read and checked first with
    ``patients.services.chart_prepare`` (the checks of every new chart: canonical
    contacts and ID numbers, the clinic's ID types, the chart's fields); then
    ``charts_create`` writes the charts, their ID numbers and the history of both
    (authored by ``actor``) a table at a time, and one audit event per chart follows, so
    an import of a thousand charts costs a few statements, not thousands. Atomic; an ID
    number another chart holds, or two of the resources share, is a Conflict."""
    systems = identifier_systems(clinic)
    id_type_ids = set(systems)
    charts = []
    for data in resources:
        fields, identifiers = patient_fields(data, clinic, systems)
        charts.append(_prepared(clinic, fields, identifiers, id_type_ids))
    if not charts:
        return []
    try:
        with transaction.atomic():
            patients = charts_create(clinic=clinic, prepared=charts, history_user=actor)
            audit_record_each(
                action="patient.created_by_api",
                objs=patients,
                clinic=clinic,
                actor=actor,
                request=request,
                for_each_chart=True,
            )
    except IdentifierTaken as exc:
        raise Conflict("an identifier of this chart belongs to another chart") from exc
    return patients


def patient_save_from_fhir(
    *, clinic: Clinic, data: dict, actor, patient: Patient | None = None, request=None
) -> Patient:
    """Create a chart (``patient`` None: ``patients_create_from_fhir``) or replace one's
    demographics and identifiers with a Patient resource (contacts made canonical as a
    new chart's are). Atomic; an ID number another chart holds is a Conflict."""
    if patient is None:
        (created,) = patients_create_from_fhir(
            clinic=clinic, resources=[data], actor=actor, request=request
        )
        return created
    fields, identifiers = patient_fields(data, clinic)
    try:
        with transaction.atomic():
            patient = Patient.objects.for_clinic(clinic).select_for_update().get(pk=patient.pk)
            fields["email"], fields["mobile"] = chart_contacts(
                clinic=clinic, email=fields["email"], mobile=fields["mobile"]
            )
            for name, value in fields.items():
                setattr(patient, name, value)
            patient.full_clean(exclude=["clinic", "primary_provider", "category"])
            patient.save()
            _set_identifiers(clinic, patient, identifiers)
            audit_record(
                action="patient.changed",
                clinic=clinic,
                actor=actor,
                obj=patient,
                acting_for=patient,
                request=request,
            )
    except ValidationError as exc:
        raise Invalid("; ".join(exc.messages)) from exc
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


# --- Task -------------------------------------------------------------------------------
# A Task update decides a patient's request through the services staff use in the admin
# (their rules, row locks and notices to the patient): completed accepts, rejected
# declines. A request someone already decided is a Conflict, never a second decision.

TASK_REASON_MAX_LENGTH = 500  # ChangeRequest.decline_reason


def change_request_complete(*, row: ChangeRequest, outputs, actor, request=None) -> None:
    """Accept every field asked, as the admin's "Accept all" does. A field whose chart
    value changed since the patient asked is a Conflict (nothing applied): staff choose
    which value wins in the admin."""
    if outputs:
        raise Invalid("a change request is completed without outputs")
    fields = set(row.items.values_list("field", flat=True))
    try:
        demographics.change_request_decide(
            request=request, change_request=row, decided_by=actor, accept=fields or {"*"}
        )
    except demographics.AlreadyDecided as exc:
        raise Conflict("the request was already decided") from exc
    except demographics.ChartChanged as exc:
        names = ", ".join(c.field for c in exc.conflicts)
        raise Conflict(f"the chart changed since the patient asked ({names})") from exc


def change_request_reject(*, row: ChangeRequest, reason: str, actor, request=None) -> None:
    """Decline every field asked, with the reason the patient reads in the portal."""
    if len(reason) > TASK_REASON_MAX_LENGTH:
        raise RuleBroken("reason_too_long")
    try:
        demographics.change_request_decide(
            request=request,
            change_request=row,
            decided_by=actor,
            accept=set(),
            decline_reason=reason,
        )
    except demographics.AlreadyDecided as exc:
        raise Conflict("the request was already decided") from exc


def _answered(exc: booking.NotAllowed) -> Exception:
    if exc.rule == "request_answered":
        return Conflict("the request was already answered")
    if isinstance(exc, booking.SlotTaken):
        return Conflict("the practitioner already has a visit then")
    return RuleBroken(exc.rule)


def appointment_request_complete(*, row: AppointmentRequest, outputs, actor, request=None) -> None:
    """Book the visit the update names (outputs ``start`` and, unless the patient chose
    one, ``practitioner``) with ``appointment_request_confirm``: the staff rules, no rule
    booked over; the patient gets the usual confirmation."""
    practitioner_id, start = booking_outputs(outputs)
    practitioner_id = practitioner_id or row.provider_id
    provider = Provider.objects.for_clinic(row.clinic_id).filter(pk=practitioner_id).first()
    if provider is None:
        raise Invalid("completing this request needs a practitioner of the clinic")
    try:
        booking.appointment_request_confirm(
            appointment_request=row,
            provider=provider,
            start=start,
            decided_by=actor,
            request=request,
        )
    except booking.NotAllowed as exc:
        raise _answered(exc) from exc


def appointment_request_reject(
    *, row: AppointmentRequest, reason: str, actor, request=None
) -> None:
    try:
        booking.appointment_request_decline(
            appointment_request=row, reason=reason, decided_by=actor, request=request
        )
    except booking.NotAllowed as exc:
        raise _answered(exc) from exc


def _refill_refused(exc: records.RefillRefused) -> Exception:
    if exc.rule == "request_answered":
        return Conflict("the request was already answered")
    return RuleBroken(exc.rule)


def refill_request_complete(*, row: RefillRequest, outputs, actor, request=None) -> None:
    """Approve the refill with ``records.services.refill_request_approve``, as staff do
    in the admin; an output ``answer`` (valueString) is the clinic's answer the patient
    reads in their messages."""
    try:
        records.refill_request_approve(
            refill_request=row,
            answer=refill_answer_output(outputs),
            decided_by=actor,
            request=request,
        )
    except records.RefillRefused as exc:
        raise _refill_refused(exc) from exc


def refill_request_reject(*, row: RefillRequest, reason: str, actor, request=None) -> None:
    """Decline the refill; the reason is the answer the patient reads in their messages."""
    try:
        records.refill_request_decline(
            refill_request=row, answer=reason, decided_by=actor, request=request
        )
    except records.RefillRefused as exc:
        raise _refill_refused(exc) from exc


# --- Communication ------------------------------------------------------------------------


class MessageRefused(Exception):  # noqa: N818 - an HTTP 422 saying why
    pass


def _form_checked(form):
    if not form.is_valid():
        raise MessageRefused(
            "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        )
    return form.cleaned_data


def _thread_answered(clinic: Clinic, patient: Patient, fields: dict) -> Thread | None:
    """The patient's thread the Communication answers, or None for a new thread."""
    ids = set(fields["threads"])
    if fields["replies_to"]:
        answered = dict(
            Message.objects.for_clinic(clinic)
            .filter(pk__in=fields["replies_to"], thread__patient=patient)
            .values_list("pk", "thread_id")
        )
        if len(answered) != len(set(fields["replies_to"])):
            raise MessageRefused("inResponseTo is not a Communication with this patient")
        ids |= set(answered.values())
    if not ids:
        return None
    threads = list(
        Thread.objects.for_clinic(clinic)
        .filter(pk__in=ids, patient=patient)
        .select_related("clinic", "patient")
    )
    if len(ids) != 1 or len(threads) != 1:
        raise MessageRefused("a Communication answers one thread with this patient")
    return threads[0]


def communication_create_from_fhir(*, clinic: Clinic, data: dict, actor, request=None) -> Message:
    """A message from the clinic to its patient, sent through ``messaging.services`` as
    staff send one from the admin: checked with the admin's forms, written with the
    staff rules (``as_clinic``: the author is ``actor``, the client's account), told to
    the patient and their representatives like any staff message, and audited. It is a
    reply in the patient's thread the Communication answers (``inResponseTo`` or the
    thread identifier), else a new thread (``topic.text`` its subject). A patient of
    another clinic, another patient's thread, no body, a sender other than the clinic,
    or anything the messaging rules refuse is MessageRefused."""
    fields = communication_fields(data)
    patient = (
        Patient.objects.for_clinic(clinic)
        .select_related("clinic")
        .filter(pk=fields["patient_id"])
        .first()
    )
    if patient is None:
        raise MessageRefused("the subject is not a patient of this clinic")
    if fields["sender"] not in ("", "Organization"):
        raise MessageRefused("the sender is the clinic: a Communication may not name another")
    if any(reference != f"Patient/{patient.pk}" for reference in fields["recipients"]):
        raise MessageRefused("the recipient is the subject, the patient")
    if fields["has_other_content"]:
        raise MessageRefused("the payload is text only (contentString)")
    bodies = [body for body in fields["bodies"] if body.strip()]
    if len(bodies) != 1:
        raise MessageRefused("a Communication needs one text payload: the message")
    thread = _thread_answered(clinic, patient, fields)
    try:
        if thread is not None:
            form = StaffReplyForm(data={"body": bodies[0]}, portal_settings=clinic.portal_settings)
            return messaging.message_post(
                thread=thread,
                body=_form_checked(form)["body"],
                author=actor,
                request=request,
                as_clinic=True,
            )
        checked = _form_checked(
            StaffNewThreadForm(
                data={
                    "patient": patient.pk,
                    "category": fields["category"],
                    "subject": fields["subject"],
                    "body": bodies[0],
                },
                clinic=clinic,
            )
        )
        thread = messaging.thread_start(
            clinic=clinic,
            patient=patient,
            subject=checked["subject"],
            category=checked["category"],
            body=checked["body"],
            author=actor,
            request=request,
            as_clinic=True,
        )
        return thread.messages.get()
    except messaging.MessagingRefused as exc:
        raise MessageRefused(str(exc)) from exc
