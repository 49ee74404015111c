"""Patient portal: the health record's medications, allergies, immunizations and
documents.

The patient's own chart only: grants have no health-record scope yet, so anyone acting
for someone else gets a 404 on every page and file, as for an id of another chart.
Every page read and every download is audited.
"""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from portal.core.cache import page_number_for_key
from records import page_cache, selectors, services
from records.access import own_record_required
from records.downloads import document_response

ROWS_PER_PAGE = 50


def own_chart_required(view):
    """The patient's own chart (``own_record_required``: 404 to a representative,
    whatever the method); the pages only read (GET or HEAD, else 405)."""
    return own_record_required(require_safe(view))


def _section_page(request, *, section, rows, template):
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    services.health_record_viewed(
        patient=request.patient, section=section, actor=request.user, request=request
    )
    return render(request, template, {"page": page, "section": section})


def _cached_section_page(request, *, section, rows, template):
    """``_section_page``, its list rendered from the cache while none of the chart's
    record changed (records/page_cache.py); every read audited, from the cache or not.
    Not for Medications: its current rows are to carry the refill request's form, whose
    CSRF token belongs to one browser and must not be kept for another."""
    page_number = page_number_for_key(request.GET.get("page"))

    def render_list():
        page = Paginator(rows, ROWS_PER_PAGE).get_page(page_number)
        return render_to_string(f"records/_{section}_list.html", {"page": page}), None

    list_html = page_cache.cached_page(
        request, section=section, page_number=page_number, render=render_list
    )
    services.health_record_viewed(
        patient=request.patient, section=section, actor=request.user, request=request
    )
    context = {"list_html": mark_safe(list_html), "section": section}  # noqa: S308 - rendered above
    return render(request, template, context)


@own_chart_required
def medications(request):
    rows = selectors.medications_for_page(request.patient)
    return _section_page(
        request, section="medications", rows=rows, template="records/medications.html"
    )


@own_chart_required
def allergies(request):
    rows = selectors.allergies_for_patient(request.patient).order_by("-date", "-pk")
    return _cached_section_page(
        request, section="allergies", rows=rows, template="records/allergies.html"
    )


@own_chart_required
def immunizations(request):
    rows = selectors.immunizations_for_patient(request.patient).order_by("-date", "-pk")
    return _cached_section_page(
        request, section="immunizations", rows=rows, template="records/immunizations.html"
    )


@own_chart_required
def documents(request):
    rows = selectors.documents_for_patient(request.patient).order_by("-date", "-pk")
    return _cached_section_page(
        request, section="documents", rows=rows, template="records/documents.html"
    )


@own_chart_required
def document_download(request, pk):
    document = selectors.get_document_for_user(request, pk)
    response = document_response(document)
    services.document_record_download(document=document, reader=request.user, request=request)
    return response
