"""Patient portal: the health record's medications, allergies, immunizations and
documents.

For the patient and the representatives whose grant allows the health record
(``records.access``); anyone else gets a 404 on every page and file, as for an id of
another chart. Every page read and every download is audited.
"""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_safe

from records import selectors, services
from records.access import health_record_required
from records.downloads import document_response

ROWS_PER_PAGE = 50


def record_page_required(view):
    """``health_record_required`` (404 to a grant without the health record, whatever
    the method); the pages only read (GET or HEAD, else 405)."""
    return health_record_required(require_safe(view))


def _section_page(request, *, section, rows, template):
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    services.health_record_viewed(
        patient=request.patient, section=section, actor=request.user, request=request
    )
    return render(request, template, {"page": page, "section": section})


@record_page_required
def medications(request):
    rows = selectors.medications_for_page(request.patient)
    return _section_page(
        request, section="medications", rows=rows, template="records/medications.html"
    )


@record_page_required
def allergies(request):
    rows = selectors.allergies_for_patient(request.patient).order_by("-date", "-pk")
    return _section_page(request, section="allergies", rows=rows, template="records/allergies.html")


@record_page_required
def immunizations(request):
    rows = selectors.immunizations_for_patient(request.patient).order_by("-date", "-pk")
    return _section_page(
        request, section="immunizations", rows=rows, template="records/immunizations.html"
    )


@record_page_required
def documents(request):
    rows = selectors.documents_for_patient(request.patient).order_by("-date", "-pk")
    return _section_page(request, section="documents", rows=rows, template="records/documents.html")


@record_page_required
def document_download(request, pk):
    document = selectors.get_document_for_user(request, pk)
    response = document_response(document)
    services.document_record_download(document=document, reader=request.user, request=request)
    return response
