"""The health record as FHIR R4 resources and back: Observation, DiagnosticReport,
MedicationRequest, MedicationStatement, AllergyIntolerance, Immunization and
DocumentReference, each validated with fhir.resources' R4B models.

Reading a resource gives the chart id it belongs to and the row's fields
(``records.services.record_save`` keeps them); writing one renders a row. The
clinician's review of a result travels in two extensions (``REVIEWED_AT``,
``REVIEWED_BY``), as R4 has no element for it.
"""

import base64
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from clinics.models import Clinic
from fhir_api.representation import Invalid, dumped, instant, meta, validated
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
)

REVIEWED_AT = "urn:portal:fhir:reviewed-at"
REVIEWED_BY = "urn:portal:fhir:reviewed-by"
DOCUMENT_KIND_SYSTEM = "urn:portal:document-kind"
LOINC = "http://loinc.org"
# LOINC document types the portal files as visit summaries or letters.
DOCUMENT_KINDS = {
    "34133-9": Document.Kind.VISIT_SUMMARY,  # Summary of episode note
    "11506-3": Document.Kind.VISIT_SUMMARY,  # Progress note
    "34108-1": Document.Kind.VISIT_SUMMARY,  # Outpatient note
    "11488-4": Document.Kind.LETTER,  # Consult note
    "57133-1": Document.Kind.LETTER,  # Referral note
}


# What the CapabilityStatement and the token's scopes say of these resources.
RESOURCES = (
    "Observation",
    "DiagnosticReport",
    "MedicationRequest",
    "MedicationStatement",
    "AllergyIntolerance",
    "Immunization",
    "DocumentReference",
)
_COMMON_SEARCH = [("patient", "reference"), ("date", "date"), ("identifier", "token")]
_RESULT_SEARCH = [("category", "token"), ("code", "token"), ("status", "token")]
SEARCH_PARAMS = {
    resource: [
        *_COMMON_SEARCH,
        *(_RESULT_SEARCH if resource in ("Observation", "DiagnosticReport") else []),
        *(
            [("clinical-status", "token")]
            if resource == "AllergyIntolerance"
            else [("status", "token")]
            if resource not in ("Observation", "DiagnosticReport")
            else []
        ),
        ("_lastUpdated", "date"),
    ]
    for resource in RESOURCES
}


# The codes each status element may hold (R4 value sets; fhir.resources does not check them).
STATUSES = {
    "Observation": {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
    "DiagnosticReport": {
        "registered",
        "partial",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "appended",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
    "MedicationRequest": {
        "active",
        "on-hold",
        "cancelled",
        "completed",
        "entered-in-error",
        "stopped",
        "draft",
        "unknown",
    },
    "MedicationStatement": {
        "active",
        "completed",
        "entered-in-error",
        "intended",
        "stopped",
        "on-hold",
        "unknown",
        "not-taken",
    },
    "Immunization": {"completed", "entered-in-error", "not-done"},
    "DocumentReference": {"current", "superseded", "entered-in-error"},
}
ALLERGY_CODES = {
    "clinicalStatus": {"active", "inactive", "resolved"},
    "verificationStatus": {"unconfirmed", "confirmed", "refuted", "entered-in-error"},
    "criticality": {"low", "high", "unable-to-assess"},
}


def _status(value, resource_type: str) -> str:
    if value not in STATUSES[resource_type]:
        raise Invalid(f"{resource_type}.status {value!r} is not a status of R4")
    return value


def _allowed(value: str, name: str) -> str:
    if value and value not in ALLERGY_CODES[name]:
        raise Invalid(f"AllergyIntolerance.{name} {value!r} is not a code of R4")
    return value


@dataclass(frozen=True)
class Parsed:
    """What a resource says: its chart, the row's fields and, for a report, its results."""

    patient_id: int
    fields: dict
    result_ids: tuple[int, ...] = ()
    content: bytes | None = None


# --- Reading pieces ---------------------------------------------------------------------


def _text(value, limit: int, name: str) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise Invalid(f"{name} is longer than {limit} characters")
    return value


def _patient_id(reference_holder, name: str) -> int:
    reference = (reference_holder.reference or "") if reference_holder is not None else ""
    number = reference.removeprefix("Patient/")
    if not reference.startswith("Patient/") or not (number.isascii() and number.isdigit()):
        raise Invalid(f"{name} must be a reference to a Patient of this clinic (Patient/<id>)")
    return int(number)


def _concept(concept, name: str, *, required: bool = True) -> dict:
    """code_system, code and display of a CodeableConcept (its first coding)."""
    if concept is None:
        if required:
            raise Invalid(f"{name} is required")
        return {"code_system": "", "code": "", "display": ""}
    coding = (concept.coding or [None])[0]
    display = (
        concept.text or (coding.display if coding else None) or (coding.code if coding else "")
    )
    if required and not display:
        raise Invalid(f"{name} needs a text, a display or a code")
    return {
        "code_system": _text(coding.system if coding else "", 255, f"{name}.coding.system"),
        "code": _text(coding.code if coding else "", 64, f"{name}.coding.code"),
        "display": _text(display, 255, f"{name}.text"),
    }


def _first_code(concepts, limit: int = 64) -> str:
    for concept in concepts or []:
        for coding in concept.coding or []:
            if coding.code:
                return coding.code[:limit]
    return ""


def _moment(value, tz) -> dt.datetime | None:
    """A FHIR date, partial date or dateTime as an instant (a day: its start in the
    clinic's time zone)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time.min, tzinfo=tz)
    else:
        text = str(value)
        parts = text.split("-")
        try:
            day = dt.date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, 1)
        except (ValueError, IndexError) as exc:
            raise Invalid(f"not a date: {text}") from exc
        moment = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    if moment.year < 1900 or moment - timezone.now() > dt.timedelta(days=366):
        raise Invalid("a date of the record is too far from today")
    return moment


def _source(resource) -> dict:
    for identifier in resource.identifier or []:
        if identifier.value:
            return {
                "source_system": _text(identifier.system, 255, "identifier.system"),
                "source_value": _text(identifier.value, 255, "identifier.value"),
            }
    return {}


def _review(resource, tz) -> dict:
    fields = {}
    for extension in resource.extension or []:
        if extension.url == REVIEWED_AT:
            fields["reviewed_at"] = _moment(extension.valueDateTime, tz)
        elif extension.url == REVIEWED_BY:
            fields["reviewed_by"] = _text(extension.valueString, 200, "reviewed-by")
    return fields


def _references(items, resource_type: str) -> tuple[int, ...]:
    ids = []
    for item in items or []:
        reference = item.reference or ""
        number = reference.removeprefix(f"{resource_type}/")
        if not reference.startswith(f"{resource_type}/") or not (
            number.isascii() and number.isdigit()
        ):
            raise Invalid(f"expected a {resource_type} reference, not {reference!r}")
        ids.append(int(number))
    return tuple(ids)


def _period(resource, prefix: str, tz):
    moment = getattr(resource, f"{prefix}DateTime", None)
    period = getattr(resource, f"{prefix}Period", None)
    if moment is not None:
        return _moment(moment, tz), None
    if period is not None:
        return _moment(period.start, tz), _moment(period.end, tz)
    return None, None


# --- Writing pieces -----------------------------------------------------------------------


def _concept_out(code_system: str, code: str, display: str) -> dict:
    concept = {"text": display}
    if code:
        coding = {"code": code, "display": display}
        if code_system:
            coding["system"] = code_system
        concept["coding"] = [coding]
    return concept


def _identifier_out(row) -> list:
    if not row.source_value:
        return []
    identifier = {"value": row.source_value}
    if row.source_system:
        identifier["system"] = row.source_system
    return [identifier]


def _review_out(row) -> list:
    extensions = []
    if row.reviewed_at is not None:
        extensions.append({"url": REVIEWED_AT, "valueDateTime": instant(row.reviewed_at)})
    if row.reviewed_by:
        extensions.append({"url": REVIEWED_BY, "valueString": row.reviewed_by})
    return extensions


def _quantity(value: Decimal) -> float | int:
    normal = value.normalize()
    return int(normal) if normal == normal.to_integral_value() else float(normal)


def _clean(data: dict) -> dict:
    return {k: v for k, v in data.items() if v not in ([], None, "", {})}


def _resource(row, data: dict) -> dict:
    return dumped(_clean({"id": str(row.pk), **meta(row), **data}))


# --- Observation ----------------------------------------------------------------------------


def observation_parse(data: dict, clinic: Clinic) -> Parsed:
    resource = validated(data, "Observation")
    tz = clinic.tz
    effective, _end = _period(resource, "effective", tz)
    if effective is None and resource.effectiveInstant is not None:
        effective = resource.effectiveInstant
    issued = resource.issued
    fields = {
        **_source(resource),
        **_concept(resource.code, "Observation.code"),
        **_review(resource, tz),
        "status": _status(resource.status, "Observation"),
        "category": _first_code(resource.category).lower(),
        "issued": issued,
        "date": effective or issued or timezone.now(),
        "value_quantity": None,
        "value_unit": "",
        "value_string": "",
        "value_code": "",
        "value_display": "",
        "range_low": None,
        "range_high": None,
        "range_text": "",
        "interpretation": _first_code(resource.interpretation, 8).upper(),
    }
    if resource.valueQuantity is not None:
        quantity = resource.valueQuantity
        if quantity.value is None:
            raise Invalid("valueQuantity needs a value")
        fields["value_quantity"] = quantity.value
        fields["value_unit"] = _text(quantity.unit or quantity.code, 64, "valueQuantity.unit")
    elif resource.valueInteger is not None:
        fields["value_quantity"] = Decimal(resource.valueInteger)
    elif resource.valueString is not None:
        fields["value_string"] = _text(resource.valueString, 2000, "valueString")
    elif resource.valueCodeableConcept is not None:
        coded = _concept(resource.valueCodeableConcept, "valueCodeableConcept")
        fields["value_code"], fields["value_display"] = coded["code"], coded["display"]
    elif resource.valueBoolean is not None:
        fields["value_string"] = "true" if resource.valueBoolean else "false"
    if resource.referenceRange:
        reference = resource.referenceRange[0]
        fields["range_low"] = reference.low.value if reference.low else None
        fields["range_high"] = reference.high.value if reference.high else None
        fields["range_text"] = _text(reference.text, 255, "referenceRange.text")
    return Parsed(_patient_id(resource.subject, "Observation.subject"), fields)


def observation_resource(row: Observation) -> dict:
    data = {
        "resourceType": "Observation",
        "extension": _review_out(row),
        "identifier": _identifier_out(row),
        "status": row.status,
        "category": [{"coding": [{"code": row.category}]}] if row.category else [],
        "code": _concept_out(row.code_system, row.code, row.display),
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "effectiveDateTime": instant(row.date),
        "issued": instant(row.issued) if row.issued else None,
    }
    if row.value_quantity is not None:
        quantity = {"value": _quantity(row.value_quantity)}
        if row.value_unit:
            quantity["unit"] = row.value_unit
        data["valueQuantity"] = quantity
    elif row.value_display or row.value_code:
        data["valueCodeableConcept"] = _concept_out("", row.value_code, row.value_display)
    elif row.value_string:
        data["valueString"] = row.value_string
    if row.interpretation:
        data["interpretation"] = [{"coding": [{"code": row.interpretation}]}]
    reference = _clean(
        {
            "low": {"value": _quantity(row.range_low)} if row.range_low is not None else None,
            "high": {"value": _quantity(row.range_high)} if row.range_high is not None else None,
            "text": row.range_text,
        }
    )
    if reference:
        data["referenceRange"] = [reference]
    return _resource(row, data)


# --- DiagnosticReport ---------------------------------------------------------------------


def diagnostic_report_parse(data: dict, clinic: Clinic) -> Parsed:
    resource = validated(data, "DiagnosticReport")
    tz = clinic.tz
    effective, _end = _period(resource, "effective", tz)
    performer = (resource.performer or [None])[0]
    fields = {
        **_source(resource),
        **_concept(resource.code, "DiagnosticReport.code"),
        **_review(resource, tz),
        "status": _status(resource.status, "DiagnosticReport"),
        "category": _first_code(resource.category).lower(),
        "issued": resource.issued,
        "date": effective or resource.issued or timezone.now(),
        "performer": _text(performer.display if performer else "", 200, "performer.display"),
        "conclusion": _text(resource.conclusion, 10000, "conclusion"),
    }
    return Parsed(
        _patient_id(resource.subject, "DiagnosticReport.subject"),
        fields,
        result_ids=_references(resource.result, "Observation"),
    )


def diagnostic_report_resource(row: DiagnosticReport, result_ids=()) -> dict:
    return _resource(
        row,
        {
            "resourceType": "DiagnosticReport",
            "extension": _review_out(row),
            "identifier": _identifier_out(row),
            "status": row.status,
            "category": [{"coding": [{"code": row.category}]}] if row.category else [],
            "code": _concept_out(row.code_system, row.code, row.display),
            "subject": {"reference": f"Patient/{row.patient_id}"},
            "effectiveDateTime": instant(row.date),
            "issued": instant(row.issued) if row.issued else None,
            "performer": [{"display": row.performer}] if row.performer else [],
            "result": [{"reference": f"Observation/{pk}"} for pk in result_ids],
            "conclusion": row.conclusion,
        },
    )


# --- MedicationRequest and MedicationStatement -------------------------------------------------


def _medication(resource, name: str) -> dict:
    if resource.medicationCodeableConcept is not None:
        return _concept(resource.medicationCodeableConcept, f"{name}.medicationCodeableConcept")
    reference = resource.medicationReference
    if reference is not None and reference.display:
        return {"code_system": "", "code": "", "display": _text(reference.display, 255, name)}
    raise Invalid(f"{name} needs medicationCodeableConcept (or a medicationReference display)")


def _dosage(dosages) -> str:
    return _text("\n".join(d.text for d in dosages or [] if d.text), 2000, "dosage.text")


def medication_request_parse(data: dict, clinic: Clinic) -> Parsed:
    resource = validated(data, "MedicationRequest")
    authored = _moment(resource.authoredOn, clinic.tz)
    repeats = resource.dispenseRequest.numberOfRepeatsAllowed if resource.dispenseRequest else None
    fields = {
        **_source(resource),
        **_medication(resource, "MedicationRequest"),
        "kind": Medication.Kind.REQUEST,
        "status": _status(resource.status, "MedicationRequest"),
        "intent": resource.intent,
        "dosage": _dosage(resource.dosageInstruction),
        "authored_on": authored,
        "effective_start": None,
        "effective_end": None,
        "refills_allowed": repeats,
        "prescriber": _text(
            resource.requester.display if resource.requester else "", 200, "requester.display"
        ),
        "date": authored or timezone.now(),
    }
    return Parsed(_patient_id(resource.subject, "MedicationRequest.subject"), fields)


def medication_request_resource(row: Medication) -> dict:
    dispense = {"numberOfRepeatsAllowed": row.refills_allowed} if row.refills_allowed else None
    return _resource(
        row,
        {
            "resourceType": "MedicationRequest",
            "identifier": _identifier_out(row),
            "status": row.status,
            "intent": row.intent or "order",
            "medicationCodeableConcept": _concept_out(row.code_system, row.code, row.display),
            "subject": {"reference": f"Patient/{row.patient_id}"},
            "authoredOn": instant(row.authored_on) if row.authored_on else None,
            "requester": {"display": row.prescriber} if row.prescriber else None,
            "dosageInstruction": [{"text": row.dosage}] if row.dosage else [],
            "dispenseRequest": dispense,
        },
    )


def medication_statement_parse(data: dict, clinic: Clinic) -> Parsed:
    resource = validated(data, "MedicationStatement")
    start, end = _period(resource, "effective", clinic.tz)
    asserted = _moment(resource.dateAsserted, clinic.tz)
    fields = {
        **_source(resource),
        **_medication(resource, "MedicationStatement"),
        "kind": Medication.Kind.STATEMENT,
        "status": _status(resource.status, "MedicationStatement"),
        "intent": "",
        "dosage": _dosage(resource.dosage),
        "authored_on": asserted,
        "effective_start": start,
        "effective_end": end,
        "refills_allowed": None,
        "prescriber": "",
        "date": start or asserted or timezone.now(),
    }
    return Parsed(_patient_id(resource.subject, "MedicationStatement.subject"), fields)


def medication_statement_resource(row: Medication) -> dict:
    period = _clean(
        {
            "start": instant(row.effective_start) if row.effective_start else None,
            "end": instant(row.effective_end) if row.effective_end else None,
        }
    )
    return _resource(
        row,
        {
            "resourceType": "MedicationStatement",
            "identifier": _identifier_out(row),
            "status": row.status,
            "medicationCodeableConcept": _concept_out(row.code_system, row.code, row.display),
            "subject": {"reference": f"Patient/{row.patient_id}"},
            "effectivePeriod": period or None,
            "dateAsserted": instant(row.authored_on) if row.authored_on else None,
            "dosage": [{"text": row.dosage}] if row.dosage else [],
        },
    )


# --- AllergyIntolerance -----------------------------------------------------------------------

CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION_STATUS = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def allergy_parse(data: dict, clinic: Clinic) -> Parsed:
    resource = validated(data, "AllergyIntolerance")
    recorded = _moment(resource.recordedDate, clinic.tz)
    onset = _moment(resource.onsetDateTime, clinic.tz)
    reactions = []
    for reaction in resource.reaction or []:
        for manifestation in reaction.manifestation or []:
            words = manifestation.text or next(
                (c.display for c in manifestation.coding or [] if c.display), ""
            )
            if words:
                reactions.append(words)
        if reaction.description:
            reactions.append(reaction.description)
    fields = {
        **_source(resource),
        **_concept(resource.code, "AllergyIntolerance.code"),
        "clinical_status": _first_code(
            [resource.clinicalStatus] if resource.clinicalStatus else []
        ),
        "verification_status": _first_code(
            [resource.verificationStatus] if resource.verificationStatus else []
        ),
        "criticality": resource.criticality or "",
        "reactions": _text("; ".join(reactions), 2000, "reaction"),
        "date": recorded or onset or timezone.now(),
    }
    return Parsed(_patient_id(resource.patient, "AllergyIntolerance.patient"), fields)


def allergy_resource(row: AllergyIntolerance) -> dict:
    return _resource(
        row,
        {
            "resourceType": "AllergyIntolerance",
            "identifier": _identifier_out(row),
            "clinicalStatus": (
                {"coding": [{"system": CLINICAL_STATUS, "code": row.clinical_status}]}
                if row.clinical_status
                else None
            ),
            "verificationStatus": (
                {"coding": [{"system": VERIFICATION_STATUS, "code": row.verification_status}]}
                if row.verification_status
                else None
            ),
            "criticality": row.criticality,
            "code": _concept_out(row.code_system, row.code, row.display),
            "patient": {"reference": f"Patient/{row.patient_id}"},
            "recordedDate": instant(row.date),
            "reaction": ([{"manifestation": [{"text": row.reactions}]}] if row.reactions else []),
        },
    )


# --- Immunization --------------------------------------------------------------------------------


def immunization_parse(data: dict, clinic: Clinic) -> Parsed:
    resource = validated(data, "Immunization")
    occurred = _moment(resource.occurrenceDateTime, clinic.tz)
    if occurred is None:
        raise Invalid("Immunization.occurrenceDateTime is required")
    site = _concept(resource.site, "Immunization.site", required=False)["display"]
    fields = {
        **_source(resource),
        **_concept(resource.vaccineCode, "Immunization.vaccineCode"),
        "status": _status(resource.status, "Immunization"),
        "lot_number": _text(resource.lotNumber, 64, "lotNumber"),
        "site": _text(site, 100, "site"),
        "date": occurred,
    }
    return Parsed(_patient_id(resource.patient, "Immunization.patient"), fields)


def immunization_resource(row: Immunization) -> dict:
    return _resource(
        row,
        {
            "resourceType": "Immunization",
            "identifier": _identifier_out(row),
            "status": row.status,
            "vaccineCode": _concept_out(row.code_system, row.code, row.display),
            "patient": {"reference": f"Patient/{row.patient_id}"},
            "occurrenceDateTime": instant(row.date),
            "lotNumber": row.lot_number,
            "site": {"text": row.site} if row.site else None,
        },
    )


# --- DocumentReference ----------------------------------------------------------------------


def _document_kind(concept) -> str:
    for coding in (concept.coding or []) if concept else []:
        if coding.system == DOCUMENT_KIND_SYSTEM and coding.code in Document.Kind.values:
            return coding.code
        if coding.system == LOINC and coding.code in DOCUMENT_KINDS:
            return DOCUMENT_KINDS[coding.code]
    return Document.Kind.OTHER


def document_parse(data: dict, clinic: Clinic) -> Parsed:
    resource = validated(data, "DocumentReference")
    if len(resource.content or []) != 1:
        raise Invalid("a DocumentReference carries exactly one content (a PDF)")
    attachment = resource.content[0].attachment
    if attachment.contentType not in (None, "application/pdf"):
        raise Invalid("content.attachment.contentType must be application/pdf")
    if attachment.url:
        raise Invalid("send the PDF in content.attachment.data; the portal fetches no URL")
    kind_concept = _concept(resource.type, "DocumentReference.type", required=False)
    title = resource.description or attachment.title or kind_concept["display"]
    if not title:
        raise Invalid("a DocumentReference needs a description, an attachment title or a type")
    fields = {
        **_source(resource),
        "kind": _document_kind(resource.type),
        "type_system": kind_concept["code_system"],
        "type_code": kind_concept["code"],
        "type_display": kind_concept["display"],
        "title": _text(title, 255, "description"),
        "status": _status(resource.status, "DocumentReference"),
        "date": resource.date or _moment(attachment.creation, clinic.tz) or timezone.now(),
    }
    return Parsed(
        _patient_id(resource.subject, "DocumentReference.subject"),
        fields,
        content=attachment.data,
    )


def document_resource(row: Document) -> dict:
    type_concept = (
        _concept_out(row.type_system, row.type_code, row.type_display or row.get_kind_display())
        if row.type_code or row.type_display
        else {
            "coding": [{"system": DOCUMENT_KIND_SYSTEM, "code": row.kind}],
            "text": str(row.get_kind_display()),
        }
    )
    return _resource(
        row,
        {
            "resourceType": "DocumentReference",
            "identifier": _identifier_out(row),
            "status": row.status,
            "type": type_concept,
            "subject": {"reference": f"Patient/{row.patient_id}"},
            "date": instant(row.date),
            "description": row.title,
            "content": [
                {
                    "attachment": {
                        "contentType": row.content_type,
                        "title": row.title,
                        "size": row.size,
                        "hash": base64.b64encode(bytes.fromhex(row.sha1)).decode(),
                    }
                }
            ],
        },
    )
