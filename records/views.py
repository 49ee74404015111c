"""Patient portal: the health record's pages (the Results page). Each page shows only
what ``records.selectors`` releases to the patient and records the read in the audit
log."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from portal.core.cache import page_number_for_key
from portal.core.open_pages import render_open
from records import interpretation, page_cache, selectors, services
from records.access import health_record_required
from records.forms import ResultPreferenceForm
from records.trend import trend_of


def _row(observation, trends):
    flag = interpretation.flag(observation.interpretation)
    values = trends.get(observation.pk)
    trend = trend_of(values) if values else None
    return {
        "observation": observation,
        "value": interpretation.value_text(observation),
        "range": interpretation.range_text(observation),
        "flag": flag[0] if flag else "",
        "flag_kind": flag[1] if flag else "",
        "trend": trend,
        # The chart's text alternative: the values it draws, newest first.
        "history": [
            {"date": p.observation.date, "value": interpretation.value_text(p.observation)}
            for p in reversed(trend.points)
        ]
        if trend
        else [],
    }


def _preference_settable(request) -> bool:
    return selectors.record_preference_settable(
        access=request.access, policy=request.clinic.portal_settings
    )


@health_record_required  # first: without the health record, the 404 of every record page
@require_safe  # the page only reads (GET or HEAD): any other method is a 405, unaudited
def results(request):
    """The patient's results, newest first, a report's results together and results
    alone gathered by day, a page of groups at a time; a numeric test seen more than
    once with its trend. Rendered from the cache while the chart's record, the clinic's
    rules and the next release moment allow (records/page_cache.py); every read is
    audited, from the cache or not."""
    patient, now = request.patient, timezone.now()
    page_number = page_number_for_key(request.GET.get("page"))

    def render_results():
        preference = selectors.record_preference(patient)
        results = selectors.results_page(
            patient=patient, now=now, preference=preference, page_number=page_number
        )
        context = {
            "groups": [
                {
                    "group": group,
                    "rows": [_row(each, results.trends) for each in group.observations],
                }
                for group in results.page
            ],
            "page": results.page,
            "preference_form": ResultPreferenceForm(
                initial={"wait_for_review": bool(preference and preference.wait_for_review)}
            )
            if settable
            else None,
        }
        page = render_open(request, "records/results.html", context)
        return page, page_cache.kept_until(
            results.page, page_number, selectors.next_release(patient=patient, now=now)
        )

    settable = _preference_settable(request)
    page = page_cache.cached_document(
        request,
        section="results",
        page_number=page_number,
        now=now,
        render=render_results,
        variant=("preference" if settable else "no-preference",),
    )
    services.health_record_viewed(
        patient=patient, section="results", actor=request.user, request=request
    )
    return page.response(request)


@health_record_required  # first: a grant without the health record gets the 404 of every page
@require_POST
def results_preference(request):
    """The patient's choice to wait for the clinician's review before new results show."""
    if not _preference_settable(request):
        raise Http404("this grant reads the results as the patient chose")
    form = ResultPreferenceForm(request.POST)
    if form.is_valid():
        wait = form.cleaned_data["wait_for_review"]
        services.record_preference_set(
            access=request.access, wait_for_review=wait, actor=request.user, request=request
        )
        if wait:
            messages.success(
                request, _("Saved. New results will show once your clinician has reviewed them.")
            )
        else:
            messages.success(
                request, _("Saved. New results will show as soon as the clinic releases them.")
            )
    return redirect("portal:records-results")
