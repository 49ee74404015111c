"""Rows of the portal as FHIR R4 resources and back, every resource validated with
fhir.resources' R4B models (R4 4.0.1 on the wire for the resources served here)."""

import datetime as dt

from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from appointments.models import Appointment, AppointmentRequest, Provider
from clinics.models import Clinic, IdentifierType
from fhir_api.models import IdentifierSystem
from messaging.models import Message, Side, Thread
from patients.demographics import field_label
from patients.models import ChangeRequest, ChangeRequestItem, Patient, PatientAccess
from portal.core.identifiers import InvalidIdentifier, canonical_id_number
from records.models import RefillRequest

GENDERS = {"F": "female", "M": "male", "X": "other", "U": "unknown"}
SEXES = {gender: sex for sex, gender in GENDERS.items()}
APPOINTMENT_STATUSES = {
    Appointment.Status.BOOKED: "booked",
    Appointment.Status.CANCELLED: "cancelled",
    Appointment.Status.COMPLETED: "fulfilled",
    Appointment.Status.NO_SHOW: "noshow",
}
STATUS_OF = {fhir: ours for ours, fhir in APPOINTMENT_STATUSES.items()}
ID_NUMBER_MAX_LENGTH = 64  # PatientIdentifier.number
REASON_MAX_LENGTH = 500  # Appointment.reason
FURTHEST_START = dt.timedelta(days=366 * 10)  # no visit is booked or kept further ahead


def is_number(text: str) -> bool:
    """``text`` is a row id as the API writes them: ASCII digits only (``str.isdigit``
    also takes other scripts' digits and superscripts, which ``int`` reads or refuses)."""
    return text.isascii() and text.isdigit()


class Invalid(ValueError):
    """The resource sent is not valid FHIR, or says something the portal cannot keep."""


def validated(data: dict, resource_type: str):
    """The fhir.resources model of ``data``; Invalid when it is not a valid resource."""
    if not isinstance(data, dict) or data.get("resourceType") != resource_type:
        raise Invalid(f"expected a {resource_type} resource")
    try:
        return get_fhir_model_class(resource_type).model_validate(data)
    except ValidationError as exc:
        raise Invalid(str(exc)) from exc


def dumped(data: dict) -> dict:
    """``data`` checked against its model on the way out (an error here is our bug), and
    sent as built: re-serialising the validated model would cost twice the validation."""
    get_fhir_model_class(data["resourceType"]).model_validate(data)
    return data


def instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def meta(row) -> dict:
    version = getattr(row, "fhir_version", None)
    if version is None:
        return {}
    return {"meta": {"versionId": str(version), "lastUpdated": instant(row.fhir_updated)}}


# --- Identifier systems ---------------------------------------------------------------


def identifier_systems(clinic: Clinic) -> dict[int, str]:
    """Each ID type's system URI: the clinic's own, or a URN the portal makes up."""
    systems = {row.id_type_id: row.system for row in IdentifierSystem.objects.for_clinic(clinic)}
    for id_type in IdentifierType.objects.for_clinic(clinic):
        systems.setdefault(id_type.pk, f"urn:portal:{clinic.slug}:id:{id_type.code}")
    return systems


def id_type_for_system(
    clinic: Clinic, system: str, systems: dict[int, str] | None = None
) -> int | None:
    """The ID type of ``system`` (None if the clinic has none); ``systems`` as read by
    ``identifier_systems`` for a caller that reads them once for many resources."""
    if systems is None:
        systems = identifier_systems(clinic)
    for id_type_id, uri in systems.items():
        if uri == system:
            return id_type_id
    return None


# --- Patient --------------------------------------------------------------------------


def patient_resource(patient: Patient, systems: dict[int, str]) -> dict:
    telecom = []
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if patient.mobile:
        telecom.append({"system": "phone", "use": "mobile", "value": str(patient.mobile)})
    if patient.home_phone:
        telecom.append({"system": "phone", "use": "home", "value": str(patient.home_phone)})
    address = {
        key: value
        for key, value in {
            "line": [line for line in (patient.address_line1, patient.address_line2) if line],
            "city": patient.city,
            "state": patient.region,
            "postalCode": patient.postal_code,
        }.items()
        if value
    }
    data = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        **meta(patient),
        "identifier": [
            {"system": systems[i.id_type_id], "value": i.number} for i in patient.identifiers.all()
        ],
        "active": patient.status != Patient.Status.INACTIVE,
        "name": [{"use": "official", "family": patient.last_name, "given": [patient.first_name]}],
        "telecom": telecom,
        "gender": GENDERS[patient.sex],
        "birthDate": patient.date_of_birth.isoformat(),
        "address": [address] if address else [],
        "communication": [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": patient.preferred_language}]
                },
                "preferred": True,
            }
        ],
    }
    return dumped({k: v for k, v in data.items() if v != []})


def patient_fields(
    data: dict, clinic: Clinic, systems: dict[int, str] | None = None
) -> tuple[dict, list[tuple[int, str]]]:
    """The chart fields and the (ID type, number) pairs a Patient resource carries
    (``systems``: the clinic's identifier systems, when the caller has read them)."""
    resource = validated(data, "Patient")
    names = resource.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    if name is None or not name.family or not name.given:
        raise Invalid("Patient.name needs a family name and a given name")
    if resource.birthDate is None:
        raise Invalid("Patient.birthDate is required")
    fields = {
        "first_name": " ".join(name.given),
        "last_name": name.family,
        "date_of_birth": resource.birthDate,
        "sex": SEXES.get(resource.gender or "unknown", "U"),
        "email": "",
        "mobile": "",
        "home_phone": "",
    }
    if resource.active is False:
        fields["status"] = Patient.Status.INACTIVE
    for point in resource.telecom or []:
        if point.system == "email" and not fields["email"]:
            fields["email"] = point.value or ""
        elif point.system == "phone" and point.use == "home" and not fields["home_phone"]:
            fields["home_phone"] = point.value or ""
        elif point.system == "phone" and not fields["mobile"]:
            fields["mobile"] = point.value or ""
    if resource.address:
        address = resource.address[0]
        lines = list(address.line or [])
        fields.update(
            address_line1=lines[0] if lines else "",
            address_line2=lines[1] if len(lines) > 1 else "",
            city=address.city or "",
            region=address.state or "",
            postal_code=address.postalCode or "",
        )
    identifiers = []
    for identifier in resource.identifier or []:
        id_type = id_type_for_system(clinic, identifier.system or "", systems)
        if id_type is None or not identifier.value:
            raise Invalid(f"unknown identifier system: {identifier.system}")
        # Stored canonical ('brk1' and 'BRK 1' are BRK1), so a chart's own number sent in
        # another format is found again rather than added and refused as another's.
        try:
            number = canonical_id_number(identifier.value)
        except InvalidIdentifier as exc:
            raise Invalid(f"not an ID number: {identifier.system}") from exc
        if not number or len(number) > ID_NUMBER_MAX_LENGTH:
            raise Invalid(f"not an ID number: {identifier.system}")
        identifiers.append((id_type, number))
    return fields, identifiers


# --- Practitioner ---------------------------------------------------------------------


def practitioner_resource(provider: Provider) -> dict:
    name = {"text": provider.name}
    if provider.title:
        name["suffix"] = [provider.title]
    return dumped(
        {
            "resourceType": "Practitioner",
            "id": str(provider.pk),
            "active": provider.is_active,
            "name": [name],
        }
    )


# --- Schedule and Slot ----------------------------------------------------------------

TYPE_SYSTEM = "urn:portal:appointment-type"


def _service_type(kind) -> dict:
    return {"coding": [{"system": TYPE_SYSTEM, "code": str(kind.pk)}], "text": kind.name}


def schedule_resource(provider: Provider) -> dict:
    """A provider's one Schedule (same id as the Practitioner), with the types they offer."""
    data = {
        "resourceType": "Schedule",
        "id": str(provider.pk),
        "active": provider.is_active,
        "serviceType": [_service_type(kind) for kind in provider.appointment_types.all()],
        "actor": [{"reference": f"Practitioner/{provider.pk}", "display": provider.name}],
    }
    return dumped({k: v for k, v in data.items() if v != []})


def slot_resource(
    *, provider_id: int, kind, start: dt.datetime, end: dt.datetime, status: str, slot_id: str
) -> dict:
    data = {
        "resourceType": "Slot",
        "id": slot_id,
        "schedule": {"reference": f"Schedule/{provider_id}"},
        "status": status,
        "start": instant(start),
        "end": instant(end),
    }
    if kind is not None:
        data["serviceType"] = [_service_type(kind)]
    return dumped(data)


# --- Appointment ----------------------------------------------------------------------


def appointment_resource(appointment: Appointment) -> dict:
    data = {
        "resourceType": "Appointment",
        "id": str(appointment.pk),
        **meta(appointment),
        "status": APPOINTMENT_STATUSES[appointment.status],
        "serviceType": [
            {
                "coding": [
                    {
                        "system": TYPE_SYSTEM,
                        "code": str(appointment.appointment_type_id),
                    }
                ],
                "text": appointment.appointment_type.name,
            }
        ],
        "start": instant(appointment.start),
        "end": instant(appointment.end),
        "minutesDuration": int((appointment.end - appointment.start).total_seconds() // 60),
        "created": instant(appointment.created_at),
        "participant": [
            {
                "actor": {"reference": f"Patient/{appointment.patient_id}"},
                "required": "required",
                "status": "accepted",
            },
            {
                "actor": {
                    "reference": f"Practitioner/{appointment.provider_id}",
                    "display": appointment.provider.name,
                },
                "required": "required",
                "status": "accepted",
            },
        ],
    }
    if appointment.reason:
        data["reasonCode"] = [{"text": appointment.reason}]
    return dumped(data)


def _reference_id(reference: str, resource_type: str, local: dict[str, str]) -> int:
    reference = local.get(reference, reference)
    prefix = f"{resource_type}/"
    if not reference.startswith(prefix) or not is_number(reference[len(prefix) :]):
        raise Invalid(f"expected a {resource_type} reference, not {reference!r}")
    return int(reference[len(prefix) :])


def appointment_fields(data: dict, local: dict[str, str] | None = None) -> dict:
    """What booking needs from an Appointment resource: the patient, practitioner and
    type ids, the start, the reason and the status. ``local`` maps a transaction's
    ``urn:uuid:`` full URLs to the references they became."""
    local = local or {}
    resource = validated(data, "Appointment")
    patient = practitioner = None
    for participant in resource.participant or []:
        reference = participant.actor.reference if participant.actor else None
        if not reference:
            continue
        resolved = local.get(reference, reference)
        if resolved.startswith("Patient/"):
            patient = _reference_id(reference, "Patient", local)
        elif resolved.startswith("Practitioner/"):
            practitioner = _reference_id(reference, "Practitioner", local)
    codes = [
        coding.code
        for concept in resource.serviceType or []
        for coding in concept.coding or []
        if coding.system == "urn:portal:appointment-type" and coding.code
    ]
    if patient is None or practitioner is None:
        raise Invalid("an Appointment needs a Patient and a Practitioner participant")
    if len(codes) != 1 or not is_number(codes[0]):
        raise Invalid("serviceType needs one coding of urn:portal:appointment-type")
    if resource.start is None:
        raise Invalid("Appointment.start is required")
    start = resource.start
    if timezone.is_naive(start):
        raise Invalid("Appointment.start needs a time zone")
    if start.year < 1900 or start - timezone.now() > FURTHEST_START:
        raise Invalid("Appointment.start is too far from today")
    if resource.status not in STATUS_OF:
        raise Invalid(f"status {resource.status} is not one the portal keeps")
    reasons = [c.text for c in resource.reasonCode or [] if c.text]
    if reasons and len(reasons[0]) > REASON_MAX_LENGTH:
        raise Invalid(f"reasonCode.text is longer than {REASON_MAX_LENGTH} characters")
    return {
        "patient_id": patient,
        "provider_id": practitioner,
        "appointment_type_id": int(codes[0]),
        "start": start,
        "reason": reasons[0] if reasons else "",
        "status": STATUS_OF[resource.status],
    }


# --- Task -----------------------------------------------------------------------------
# What patients ask of the clinic, one Task per request, of several kinds (see
# fhir_api/tasks.py). A Task's id names its kind and row ("cr-12", "ar-7"). Its
# version is "1" while it waits and "2" once decided or withdrawn (nothing else in a
# request ever changes); ``input`` and ``description`` carry what the patient typed.

TASK_CODE_SYSTEM = "urn:portal:task"
TASK_INPUT_SYSTEM = "urn:portal:task-input"
TASK_OUTPUT_SYSTEM = "urn:portal:task-output"
TASK_CODES = {
    "change-request": "Change of details",
    "appointment-request": "Appointment request",
    "refill-request": "Refill request",
}
# FHIR R4 Task.status, all of them (a search may name any).
TASK_STATUSES = {
    *("draft", "requested", "received", "accepted", "rejected", "ready", "cancelled"),
    *("in-progress", "on-hold", "failed", "completed", "entered-in-error"),
}
# Our statuses as Task statuses; a waiting request also answers ``status=in-progress``.
CHANGE_REQUEST_TASK_STATUS = {
    ChangeRequest.Status.PENDING: "requested",
    ChangeRequest.Status.ACCEPTED: "completed",
    ChangeRequest.Status.PARTLY: "completed",
    ChangeRequest.Status.DECLINED: "rejected",
    ChangeRequest.Status.WITHDRAWN: "cancelled",
}
APPOINTMENT_REQUEST_TASK_STATUS = {
    AppointmentRequest.Status.PENDING: "requested",
    AppointmentRequest.Status.CONFIRMED: "completed",
    AppointmentRequest.Status.DECLINED: "rejected",
    AppointmentRequest.Status.WITHDRAWN: "cancelled",
}
REFILL_REQUEST_TASK_STATUS = {
    RefillRequest.Status.PENDING: "requested",
    RefillRequest.Status.APPROVED: "completed",
    RefillRequest.Status.DECLINED: "rejected",
}
# What an update may change: the decision, and how an appointment request is booked.
TASK_DECISION_FIELDS = {"meta", "text", "status", "statusReason", "output", "lastModified"}


def _coding(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _task(row, *, task_id, code, status, description, inputs, outputs, pending, focus=None) -> dict:
    updated = row.decided_at or row.created_at
    requester = None
    if row.requested_by_id is not None:
        # ``requester_grant_id`` (selectors): the representative's grant, when one asked.
        grant = row.requester_grant_id
        requester = f"RelatedPerson/{grant}" if grant else f"Patient/{row.patient_id}"
    data = {
        "resourceType": "Task",
        "id": task_id,
        "meta": {"versionId": "1" if pending else "2", "lastUpdated": instant(updated)},
        "status": status,
        "intent": "order",
        "code": _coding(TASK_CODE_SYSTEM, code, TASK_CODES[code]),
        "description": description,
        "focus": {"reference": focus} if focus else None,
        "for": {"reference": f"Patient/{row.patient_id}"},
        "authoredOn": instant(row.created_at),
        "lastModified": instant(updated),
        "requester": {"reference": requester} if requester else None,
        "statusReason": (
            {"text": row.decline_reason} if status == "rejected" and row.decline_reason else None
        ),
        "input": inputs,
        "output": outputs,
    }
    return dumped({k: v for k, v in data.items() if v not in (None, [])})


def _change_value(field: str, text: str) -> dict:
    if not text:  # the patient asks for the field to be emptied
        return {"valueCodeableConcept": _coding(TASK_INPUT_SYSTEM, "clear", "Clear this field")}
    if field == "date_of_birth":
        return {"valueDate": text}
    if field == "sex":
        return {"valueCode": GENDERS.get(text, "unknown")}
    return {"valueString": text}


def change_request_task(row: ChangeRequest) -> dict:
    """A demographic change request (kind ``change``): one input per field asked, its
    proposed value as stored (dates ISO, phones E.164); once completed, one output per
    field accepted (a partly accepted request is completed with fewer outputs)."""
    items = list(row.items.all())
    labels = {item.field: field_label(item.field) for item in items}
    return _task(
        row,
        task_id=f"cr-{row.pk}",
        code="change-request",
        status=CHANGE_REQUEST_TASK_STATUS[row.status],
        description=f"Change of details: {', '.join(labels.values())}",
        inputs=[
            {
                "type": _coding(TASK_INPUT_SYSTEM, item.field, labels[item.field]),
                **_change_value(item.field, item.new_value),
            }
            for item in items
        ],
        outputs=[
            {"type": _coding(TASK_OUTPUT_SYSTEM, "accepted-field"), "valueCode": item.field}
            for item in items
            if item.decision == ChangeRequestItem.Decision.ACCEPTED
        ],
        pending=row.is_pending,
    )


def appointment_request_task(row: AppointmentRequest) -> dict:
    """An appointment request: the type, the preferred practitioner, days and times and
    the patient's note as inputs; once confirmed, the Appointment booked as output."""
    inputs = [
        {
            "type": _coding(TASK_INPUT_SYSTEM, "appointment-type", "Type of visit"),
            "valueCodeableConcept": _service_type(row.appointment_type),
        }
    ]
    if row.provider_id:
        inputs.append(
            {
                "type": _coding(TASK_INPUT_SYSTEM, "practitioner", "Preferred practitioner"),
                "valueReference": {
                    "reference": f"Practitioner/{row.provider_id}",
                    "display": row.provider.name,
                },
            }
        )
    for name, display, values in (
        ("preferred-day", "Preferred day", row.preferred_days),
        ("preferred-time", "Preferred time", row.preferred_times),
    ):
        inputs += [
            {"type": _coding(TASK_INPUT_SYSTEM, name, display), "valueCode": value}
            for value in values
        ]
    if row.note:
        inputs.append({"type": _coding(TASK_INPUT_SYSTEM, "note", "Note"), "valueString": row.note})
    outputs = []
    if row.appointment_id:
        outputs.append(
            {
                "type": _coding(TASK_OUTPUT_SYSTEM, "appointment", "Appointment booked"),
                "valueReference": {"reference": f"Appointment/{row.appointment_id}"},
            }
        )
    return _task(
        row,
        task_id=f"ar-{row.pk}",
        code="appointment-request",
        status=APPOINTMENT_REQUEST_TASK_STATUS[row.status],
        description=f"Appointment request: {row.appointment_type.name}",
        inputs=inputs,
        outputs=outputs,
        pending=row.status == AppointmentRequest.Status.PENDING,
    )


def refill_request_task(row: RefillRequest) -> dict:
    """A refill request: its focus the prescription (MedicationRequest) to renew, the
    patient's note for the pharmacy as input; once approved, the clinic's answer (if
    any) as output ``answer``; once declined, the answer as ``statusReason``."""
    inputs = [
        {
            "type": _coding(TASK_INPUT_SYSTEM, "pharmacy-note", "Note for the pharmacy"),
            "valueString": row.pharmacy_note,
        }
    ]
    outputs = []
    if row.status == RefillRequest.Status.APPROVED and row.answer:
        outputs.append(
            {"type": _coding(TASK_OUTPUT_SYSTEM, "answer", "Answer"), "valueString": row.answer}
        )
    return _task(
        row,
        task_id=f"rr-{row.pk}",
        code="refill-request",
        status=REFILL_REQUEST_TASK_STATUS[row.status],
        description=f"Refill request: {row.medication.display}",
        inputs=inputs,
        outputs=outputs,
        pending=row.is_pending,
        focus=f"MedicationRequest/{row.medication_id}",
    )


_TASK_BUILDERS = {
    ChangeRequest: change_request_task,
    AppointmentRequest: appointment_request_task,
    RefillRequest: refill_request_task,
}


def task_resource(row: ChangeRequest | AppointmentRequest | RefillRequest) -> dict:
    """The Task of a patient's request, for the record system or the patient's own
    export. ``row`` comes from ``selectors.change_request_tasks``,
    ``selectors.appointment_request_tasks`` or ``selectors.refill_request_tasks``
    (their annotations and related rows)."""
    return _TASK_BUILDERS[type(row)](row)


def task_decision(data: dict, current: dict) -> tuple[str, str, list]:
    """The status, ``statusReason.text`` and outputs an update of the Task ``current``
    asks for. Invalid when the body is no Task; TaskFieldsChanged when it changes
    anything but the decision (compared as the model reads both, so formats may vary)."""
    resource = validated(data, "Task")
    sent = resource.model_dump(mode="json", exclude_none=True)
    now = validated(current, "Task").model_dump(mode="json", exclude_none=True)
    changed = sorted(
        name
        for name in (set(sent) | set(now)) - TASK_DECISION_FIELDS
        if sent.get(name) != now.get(name)
    )
    if changed:
        raise TaskFieldsChanged(changed)
    reason = resource.statusReason.text if resource.statusReason else None
    return resource.status, (reason or "").strip(), list(resource.output or [])


class TaskFieldsChanged(Invalid):
    """An update changed more of a Task than its decision."""

    def __init__(self, fields: list[str]):
        super().__init__(f"only the status of a Task may change, not {', '.join(fields)}")
        self.fields = fields


def refill_answer_output(outputs) -> str:
    """The answer an update completing a refill request gives (output ``answer``,
    valueString), "" when it gives none."""
    answers = []
    for output in outputs:
        codes = [c.code for c in output.type.coding or [] if c.system == TASK_OUTPUT_SYSTEM]
        if codes != ["answer"] or not isinstance(output.valueString, str):
            raise Invalid("completing a refill request: one output answer (valueString) at most")
        answers.append(output.valueString)
    if len(answers) > 1:
        raise Invalid("completing a refill request: one output answer (valueString) at most")
    return answers[0] if answers else ""


def booking_outputs(outputs) -> tuple[int | None, dt.datetime]:
    """The practitioner (None: the one the patient preferred) and the start that an
    update completing an appointment request gives as outputs ``practitioner``
    (valueReference) and ``start`` (valueDateTime with a time zone)."""
    found = {}
    for output in outputs:
        codes = [c.code for c in output.type.coding or [] if c.system == TASK_OUTPUT_SYSTEM]
        if len(codes) != 1 or codes[0] not in ("practitioner", "start") or codes[0] in found:
            raise Invalid("completing an appointment request: one start, one practitioner at most")
        found[codes[0]] = output
    start = found["start"].valueDateTime if "start" in found else None
    if not isinstance(start, dt.datetime) or timezone.is_naive(start):
        raise Invalid("completing an appointment request needs a start with a time zone")
    if start.year < 1900 or start - timezone.now() > FURTHEST_START:
        raise Invalid("the start is too far from today")
    practitioner = None
    if "practitioner" in found:
        reference = found["practitioner"].valueReference
        practitioner = _reference_id(reference.reference if reference else "", "Practitioner", {})
    return practitioner, start


# --- RelatedPerson --------------------------------------------------------------------

ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
# The portal's relationships that v3 RoleCode names; carer and other are text only.
RELATIONSHIP_CODES = {
    PatientAccess.Relationship.PARENT: ("PRN", "parent"),
    PatientAccess.Relationship.GUARDIAN: ("GUARD", "guardian"),
    PatientAccess.Relationship.SPOUSE: ("SPS", "spouse"),
}
REPRESENTATIVE_SCOPE = "urn:portal:fhir:StructureDefinition/representative-scope"


def related_person_resource(grant: PatientAccess, *, active: bool) -> dict:
    """A representative's grant (not ``self``) as a RelatedPerson: the account's name
    and sign-in contacts as the portal holds them, the relationship, the grant's period
    and its scopes (one ``representative-scope`` extension per scope granted).
    ``active`` is whether the grant works today (see ``selectors.related_people_for``);
    ``grant.user`` should be loaded."""
    user = grant.user
    relationship = {"text": grant.relationship}
    if grant.relationship in RELATIONSHIP_CODES:
        code, display = RELATIONSHIP_CODES[grant.relationship]
        relationship["coding"] = [{"system": ROLE_CODE, "code": code, "display": display}]
    telecom = []
    if user.email:
        telecom.append({"system": "email", "value": user.email})
    if user.phone:
        telecom.append({"system": "phone", "use": "mobile", "value": str(user.phone)})
    ends = [moment for moment in (grant.revoked_at, grant.expires_at) if moment is not None]
    period = {"start": instant(grant.created_at)}
    if ends:
        period["end"] = instant(min(ends))
    name = {"family": user.last_name, "given": [user.first_name] if user.first_name else []}
    data = {
        "resourceType": "RelatedPerson",
        "id": str(grant.pk),
        **meta(grant),
        "extension": [
            {"url": REPRESENTATIVE_SCOPE, "valueCode": scope}
            for scope in PatientAccess.SCOPES
            if grant.allows(scope)
        ],
        "active": active,
        "patient": {"reference": f"Patient/{grant.patient_id}"},
        "relationship": [relationship],
        "name": [{k: v for k, v in name.items() if v}] if user.last_name or user.first_name else [],
        "telecom": telecom,
        "period": period,
    }
    return dumped({k: v for k, v in data.items() if v != []})


# --- Communication --------------------------------------------------------------------

THREAD_SYSTEM = "urn:portal:fhir:message-thread"
CATEGORY_SYSTEM = "urn:portal:fhir:message-category"


def communication_resource(
    message: Message,
    *,
    clinic_name: str,
    previous_id: int | None = None,
    representative_id: int | None = None,
) -> dict:
    """A portal message as a Communication about its thread's patient: the body as
    ``payload.contentString``, each attachment's name, type and size (never its bytes),
    the thread as an identifier (system ``THREAD_SYSTEM``) and its subject as ``topic``,
    the message before it in the thread as ``inResponseTo``. The clinic's side's author
    is named only; the patient's side is the Patient, or the RelatedPerson of the grant
    a representative wrote with (``representative_id``). ``message.thread`` and
    ``message.attachments`` should be loaded (``selectors.communications_for`` does)."""
    thread = message.thread
    patient = {"reference": f"Patient/{thread.patient_id}"}
    clinic = {"type": "Organization", "display": clinic_name}
    if message.sender_side == Side.STAFF:
        sender, recipient = {"display": message.author_name}, patient
    elif message.by_representative and representative_id is not None:
        sender = {"reference": f"RelatedPerson/{representative_id}", "display": message.author_name}
        recipient = clinic
    elif message.by_representative:
        sender, recipient = {"display": message.author_name}, clinic
    else:
        sender, recipient = {**patient, "display": message.author_name}, clinic
    data = {
        "resourceType": "Communication",
        "id": str(message.pk),
        "meta": {"lastUpdated": instant(message.created_at)},
        "identifier": [{"system": THREAD_SYSTEM, "value": str(thread.pk)}],
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": thread.category}]}],
        "subject": patient,
        "topic": {"text": thread.subject},
        "sent": instant(message.created_at),
        "recipient": [recipient],
        "sender": sender,
        "payload": [
            {"contentString": message.body},
            *(
                {
                    "contentAttachment": {
                        "contentType": attachment.content_type,
                        "title": attachment.original_name,
                        "size": attachment.size,
                        "creation": instant(attachment.created_at),
                    }
                }
                for attachment in message.attachments.all()
            ),
        ],
    }
    if previous_id is not None:
        data["inResponseTo"] = [{"reference": f"Communication/{previous_id}"}]
    return dumped(data)


def communication_fields(data: dict) -> dict:
    """What a Communication sent by the record system says: the patient, the body, and
    the thread it answers (``inResponseTo`` a Communication, or the thread identifier),
    else the subject (``topic.text``) and category of a new thread. Raises Invalid for
    what is not a Communication the clinic can send; the business rules (whose patient,
    an empty body, a sender that is not the clinic) are ``MessageRefused`` in
    services."""
    resource = validated(data, "Communication")
    if resource.status != "completed":
        raise Invalid("a Communication sent through the portal is completed")
    if resource.subject is None or not (resource.subject.reference or "").startswith("Patient/"):
        raise Invalid("Communication.subject must be a Patient")
    patient_id = _reference_id(resource.subject.reference, "Patient", {})
    bodies = [p.contentString for p in resource.payload or [] if p.contentString is not None]
    others = [p for p in resource.payload or [] if p.contentString is None]
    replies_to = [
        _reference_id(ref.reference or "", "Communication", {})
        for ref in resource.inResponseTo or []
    ]
    threads = [i.value for i in resource.identifier or [] if i.system == THREAD_SYSTEM and i.value]
    if any(not is_number(value) for value in threads):
        raise Invalid(f"a {THREAD_SYSTEM} identifier is a thread id")
    categories = [
        coding.code
        for concept in resource.category or []
        for coding in concept.coding or []
        if coding.system == CATEGORY_SYSTEM and coding.code
    ]
    return {
        "patient_id": patient_id,
        "bodies": bodies,
        "has_other_content": bool(others),
        # Who the sender claims to be: its reference, else its type ("" when none).
        "sender": (resource.sender.reference or resource.sender.type or "")
        if resource.sender
        else "",
        "recipients": [r.reference or "" for r in resource.recipient or []],
        "replies_to": replies_to,
        "threads": [int(value) for value in threads],
        "subject": resource.topic.text if resource.topic and resource.topic.text else "",
        "category": categories[0] if categories else Thread.Category.GENERAL,
    }
