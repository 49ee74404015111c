"""The patient's copy of their record, from the Account page: the FHIR Bundle to keep
(a file) and the summary to read or print. Mounted under /portal/ (``portal.site.urls``)."""

import json

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from fhir_api.export import record_bundle, record_load, sections_for
from patients.access import patient_required
from portal.audit.services import audit_record

FHIR_JSON = "application/fhir+json"
FHIR_FORMAT, SUMMARY_FORMAT = "fhir-json", "html"


def _record(request, record_format: str):
    """The record of the chart the session acts for, with what the grant allows; None
    when it allows nothing of it. Each copy made is an audit event (who, which chart,
    which format and sections: never what they hold)."""
    if not sections_for(request.access):
        return None
    record = record_load(
        clinic=request.clinic, access=request.access, fhir_only=record_format == FHIR_FORMAT
    )
    audit_record(
        action="record.downloaded",
        request=request,
        obj=request.patient,
        acting_for=request.patient,
        details={"format": record_format, "sections": record.keys},
    )
    return record


def _out_of_scope(request):
    # As every page of a scope the grant lacks (patients.access.patient_required).
    return render(request, "patients/out_of_scope.html", status=403)


@require_GET
@patient_required
def record_download(request):
    """The record as a FHIR R4 Bundle, downloaded as ``record-<day>.json``."""
    record = _record(request, FHIR_FORMAT)
    if record is None:
        return _out_of_scope(request)
    bundle = record_bundle(record, base_url=request.build_absolute_uri(reverse("fhir:base")))
    response = HttpResponse(
        json.dumps(bundle, indent=1), content_type=f"{FHIR_JSON}; charset=utf-8"
    )
    day = timezone.localdate(record.made_at).isoformat()
    response["Content-Disposition"] = f'attachment; filename="record-{day}.json"'
    return response


@require_GET
@patient_required
def record_summary(request):
    """The record as a page to read and print (print styles, no script needed)."""
    record = _record(request, SUMMARY_FORMAT)
    if record is None:
        return _out_of_scope(request)
    return render(request, "fhir_api/record.html", {"record": record})
