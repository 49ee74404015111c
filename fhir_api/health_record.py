"""The health record over the FHIR API: create, read, update and search of Observation,
DiagnosticReport, MedicationRequest, MedicationStatement, AllergyIntolerance,
Immunization and DocumentReference, on ``records.services`` (which applies the clinic's
release rules and tells patients of new results).

Creating a resource whose identifier the clinic already holds updates that row (the
record system may send a resource again: it is kept once). Every answer follows the
rest of the API: bearer tokens with ``system/<Type>.<verbs>`` scopes, versions with
ETag and If-Match, ``_count``/``_after`` paging, OperationOutcomes, audit with the
client as the actor.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet

from clinics.models import Clinic
from fhir_api import health_record_representation as rep
from fhir_api.representation import Invalid
from fhir_api.selectors import _time_filter, with_version
from fhir_api.views import (
    Outcome,
    _audit,
    _body,
    _by_method,
    _check_if_match,
    _known_params,
    _lock,
    _page,
    api,
    base_url,
    etag,
    fhir_response,
)
from patients.models import Patient
from records import services
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
)


@dataclass(frozen=True)
class Kind:
    """One resource type: its rows, how it reads and renders, what it is searched by."""

    resource: str
    model: type
    parse: Callable
    render: Callable
    params: dict[str, str] = field(default_factory=dict)  # search parameter -> field
    filters: dict = field(default_factory=dict)


_COMMON = {"patient": "patient_id", "date": "date", "identifier": "", "_lastUpdated": ""}
_RESULT = {**_COMMON, "category": "category", "code": "code", "status": "status"}


def _render_report(row):
    return rep.diagnostic_report_resource(row, sorted(o.pk for o in row.observations.all()))


KINDS = {
    kind.resource: kind
    for kind in (
        Kind("Observation", Observation, rep.observation_parse, rep.observation_resource, _RESULT),
        Kind(
            "DiagnosticReport",
            DiagnosticReport,
            rep.diagnostic_report_parse,
            _render_report,
            _RESULT,
        ),
        Kind(
            "MedicationRequest",
            Medication,
            rep.medication_request_parse,
            rep.medication_request_resource,
            {**_COMMON, "status": "status"},
            {"kind": Medication.Kind.REQUEST},
        ),
        Kind(
            "MedicationStatement",
            Medication,
            rep.medication_statement_parse,
            rep.medication_statement_resource,
            {**_COMMON, "status": "status"},
            {"kind": Medication.Kind.STATEMENT},
        ),
        Kind(
            "AllergyIntolerance",
            AllergyIntolerance,
            rep.allergy_parse,
            rep.allergy_resource,
            {**_COMMON, "clinical-status": "clinical_status"},
        ),
        Kind(
            "Immunization",
            Immunization,
            rep.immunization_parse,
            rep.immunization_resource,
            {**_COMMON, "status": "status"},
        ),
        Kind(
            "DocumentReference",
            Document,
            rep.document_parse,
            rep.document_resource,
            {**_COMMON, "status": "status"},
        ),
    )
}


def _rows(clinic: Clinic, kind: Kind) -> QuerySet:
    rows = kind.model.objects.for_clinic(clinic).filter(**kind.filters)
    if kind.model is DiagnosticReport:
        rows = rows.prefetch_related(
            Prefetch("observations", queryset=Observation.objects.only("pk", "report_id"))
        )
    return with_version(rows).order_by("pk")


def _row(request, kind: Kind, pk: int, *, lock=False):
    if lock:
        _lock(kind.model, request.clinic, pk)
    row = _rows(request.clinic, kind).filter(pk=pk).first()
    if row is None:
        raise Outcome(404, "not-found", f"{kind.resource} not found")
    return row


def _search(clinic: Clinic, kind: Kind, params) -> QuerySet:
    rows = _rows(clinic, kind)
    for name, column in kind.params.items():
        values = params.getlist(name)
        if not values:
            continue
        if name == "patient":
            for value in values:
                number = value.removeprefix("Patient/")
                if not (number.isascii() and number.isdigit()):
                    raise Invalid(f"patient must be a Patient id: {value}")
                rows = rows.filter(patient_id=int(number))
        elif name in ("date", "_lastUpdated"):
            column = "date" if name == "date" else "fhir_updated"
            rows = rows.filter(_time_filter(column, values, clinic.tz))
        elif name == "identifier":
            for value in values:
                system, bar, number = value.rpartition("|")
                condition = Q(source_value=number)
                if bar and system:
                    condition &= Q(source_system=system)
                rows = rows.filter(condition)
        else:
            for value in values:
                codes = [c.rpartition("|")[2] for c in value.split(",")]
                if name == "category":
                    codes = [c.lower() for c in codes]
                rows = rows.filter(**{f"{column}__in": codes})
    return rows


def _document_body(request) -> dict:
    """A DocumentReference's body, which may carry a PDF of up to the server's limit in
    base64: longer than other bodies, refused (413) before it is read when too long."""
    limit = settings.PORTAL_RECORD_DOCUMENT_MAX_MB * 1024 * 1024 * 4 // 3 + 64 * 1024
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = limit + 1
    if length > limit:
        raise Outcome(
            413,
            "too-costly",
            f"the attachment is larger than {settings.PORTAL_RECORD_DOCUMENT_MAX_MB} MB",
        )
    raw = request.read(limit + 1)
    try:
        return json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Outcome(400, "structure", "the body is not JSON") from exc
    except RecursionError as exc:
        raise Outcome(400, "structure", "the body is nested too deeply") from exc


def _save(request, token, kind: Kind, body, row=None):
    """Keep one resource through the records services; returns (row, created)."""
    parsed = kind.parse(body, request.clinic)
    patient = Patient.objects.for_clinic(request.clinic).filter(pk=parsed.patient_id).first()
    if patient is None:
        raise Invalid(f"Patient/{parsed.patient_id} is not a patient of this clinic")
    common = {
        "clinic": request.clinic,
        "patient": patient,
        "fields": parsed.fields,
        "actor": token.client.account,
        "row": row,
        "request": request,
    }
    try:
        with transaction.atomic():
            if kind.model is Document:
                saved, created = services.document_save(content=parsed.content, **common)
            else:
                saved, created = services.record_save(model=kind.model, **common)
            if kind.model is DiagnosticReport:
                services.report_results_link(report=saved, observation_ids=parsed.result_ids)
    except services.NotSaved as exc:
        raise Outcome(
            409 if exc.conflict else 400, "conflict" if exc.conflict else "invalid", str(exc)
        ) from exc
    return saved, created


def _views(kind: Kind):
    read_body = _document_body if kind.model is Document else _body

    @api(kind.resource, "s")
    def search(request, token):
        _known_params(request, set(kind.params))
        rows = _search(request.clinic, kind, request.GET)
        bundle = _page(request, rows, kind.render, kind.resource)
        _audit(
            request,
            token,
            "fhir.search",
            details={"resource": kind.resource, "count": len(bundle["entry"])},
        )
        return fhir_response(bundle)

    @api(kind.resource, "c")
    def create(request, token):
        body = read_body(request)
        if isinstance(body, dict) and body.get("id") is not None:
            raise Outcome(400, "invalid", "a resource to create has no id; PUT updates one")
        saved, created = _save(request, token, kind, body)
        data = kind.render(_row(request, kind, saved.pk))
        location = f"{base_url(request)}{kind.resource}/{saved.pk}"
        headers = {"Location": f"{location}/_history/{data['meta']['versionId']}", **etag(data)}
        return fhir_response(data, status=201 if created else 200, headers=headers)

    @api(kind.resource, "r")
    def read(request, token, pk):
        row = _row(request, kind, pk)
        data = kind.render(row)
        _audit(request, token, "fhir.read", obj=row, patient=row.patient)
        return fhir_response(data, headers=etag(data))

    @api(kind.resource, "u")
    def update(request, token, pk):
        body = read_body(request)
        with transaction.atomic():
            row = _row(request, kind, pk, lock=True)
            _check_if_match(request, kind.render(row))
            if not isinstance(body, dict) or body.get("id") != str(pk):
                raise Outcome(400, "invalid", "the resource's id must match the URL")
            _save(request, token, kind, body, row=row)
        data = kind.render(_row(request, kind, pk))
        return fhir_response(data, headers=etag(data))

    name = kind.resource.lower()
    listing = _by_method(f"{name}_type", get=search, post=create)
    instance = _by_method(f"{name}_instance", get=read, put=update)
    listing.__module__ = instance.__module__ = __name__
    return listing, instance


observation_type, observation_instance = _views(KINDS["Observation"])
diagnostic_report_type, diagnostic_report_instance = _views(KINDS["DiagnosticReport"])
medication_request_type, medication_request_instance = _views(KINDS["MedicationRequest"])
medication_statement_type, medication_statement_instance = _views(KINDS["MedicationStatement"])
allergy_type, allergy_instance = _views(KINDS["AllergyIntolerance"])
immunization_type, immunization_instance = _views(KINDS["Immunization"])
document_type, document_instance = _views(KINDS["DocumentReference"])
