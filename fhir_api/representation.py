"""Rows of the portal as FHIR R4 resources and back, every resource validated with
fhir.resources' R4B models (R4 4.0.1 on the wire for the resources served here)."""

import datetime as dt

from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from appointments.models import Appointment, Provider
from clinics.models import Clinic, IdentifierType
from fhir_api.models import IdentifierSystem
from patients.models import Patient
from portal.core.identifiers import InvalidIdentifier, canonical_id_number

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
    if not reference.startswith(prefix) or not reference[len(prefix) :].isdigit():
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
    if len(codes) != 1 or not codes[0].isdigit():
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
