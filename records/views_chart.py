"""Patient portal: the health record's medications, allergies, immunizations and
documents.

For the patient and the representatives whose grant allows the health record
(``records.access``); anyone else gets a 404 on every page and file, as for an id of
another chart. Every page read and every download is audited.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from portal.core.cache import page_number_for_key
from portal.core.open_pages import render_open
from records import page_cache, selectors, services
from records.access import health_record_required
from records.downloads import document_response
from records.forms import RefillRequestForm

ROWS_PER_PAGE = 50


def record_page_required(view):
    """``health_record_required`` (404 to a grant without the health record, whatever
    the method); the pages only read (GET or HEAD, else 405)."""
    return health_record_required(require_safe(view))


def _cached_section_page(request, *, section, rows, template):
    """A section's page of ``rows()`` (``ROWS_PER_PAGE`` a page), the whole page from the
    cache while none of the chart's record changed (records/page_cache.py,
    portal/core/open_pages.py); every read audited, from the cache or not."""
    page_number = page_number_for_key(request.GET.get("page"))

    def render_page():
        page = Paginator(rows(), ROWS_PER_PAGE).get_page(page_number)
        document = render_open(request, template, {"page": page, "section": section})
        return document, page_cache.kept_until(page, page_number)

    page = page_cache.cached_document(
        request, section=section, page_number=page_number, render=render_page
    )
    services.health_record_viewed(
        patient=request.patient, section=section, actor=request.user, request=request
    )
    return page.response(request)


@record_page_required
def medications(request):
    return _cached_section_page(
        request,
        section="medications",
        rows=lambda: selectors.medications_for_page(request.patient),
        template="records/medications.html",
    )


REFILL_REFUSED = {
    "already_requested": gettext_lazy(
        "You already asked for a refill of this medication. The clinic will answer it "
        "before you can ask again."
    ),
    "note_required": gettext_lazy("Write a note for the pharmacy."),
    "note_too_long": gettext_lazy("The note is too long: 200 characters at most."),
    "not_plain_text": gettext_lazy("The note can only hold plain text."),
}


@health_record_required  # first: without the health record, the 404 of every record page
@require_http_methods(["GET", "HEAD", "POST"])
def medication_refill(request, pk):
    """Ask for a refill of one active prescription of the patient's own chart, with a
    note for the pharmacy; any other medication is a 404. While a request waits, the
    page says so instead of the form."""
    medication = selectors.get_refillable_medication_for_user(request, pk)
    back = reverse("portal:records-medications") + f"#medication-{medication.pk}"
    pending = selectors.pending_refill_request(medication)
    form = RefillRequestForm(request.POST if request.method == "POST" and not pending else None)
    if form.is_bound and form.is_valid():
        try:
            refill_request = services.refill_request_create(
                patient=request.patient,
                medication_id=medication.pk,
                pharmacy_note=form.cleaned_data["pharmacy_note"],
                requested_by=request.user,
                request=request,
            )
        except services.RefillRefused as refusal:
            if refusal.rule == "not_refillable":
                raise Http404 from refusal
            if refusal.rule == "already_requested":
                pending = selectors.pending_refill_request(medication)
            form.add_error(None, REFILL_REFUSED.get(refusal.rule, refusal.rule))
        else:
            messages.success(
                request,
                _(
                    "Your refill request was sent to the clinic on %(date)s. You will get a "
                    "message here when they answer."
                )
                % {
                    "date": formats.date_format(
                        timezone.localtime(refill_request.created_at), "DATE_FORMAT"
                    )
                },
            )
            return redirect(back)
    return render(
        request,
        "records/medication_refill.html",
        {"medication": medication, "form": form, "pending": pending, "back": back},
    )


@record_page_required
def allergies(request):
    return _cached_section_page(
        request,
        section="allergies",
        rows=lambda: selectors.allergies_for_patient(request.patient).order_by("-date", "-pk"),
        template="records/allergies.html",
    )


@record_page_required
def immunizations(request):
    return _cached_section_page(
        request,
        section="immunizations",
        rows=lambda: selectors.immunizations_for_patient(request.patient).order_by(
            "-date", "-pk"
        ),
        template="records/immunizations.html",
    )


@record_page_required
def documents(request):
    return _cached_section_page(
        request,
        section="documents",
        rows=lambda: selectors.documents_for_patient(request.patient).order_by("-date", "-pk"),
        template="records/documents.html",
    )


@record_page_required
def document_download(request, pk):
    document = selectors.get_document_for_user(request, pk)
    response = document_response(document)
    services.document_record_download(document=document, reader=request.user, request=request)
    return response
