"""The health record's pages (Results, Medications, Allergies, Immunizations, Documents), rendered
whole, kept in the shared cache (``cached_document``: the parts of a page that belong to one
request, its CSRF token and idle countdown, are left open and filled in on every view by
``portal.core.open_pages``).

Rendering (a card per group of results with its trend chart, a row per allergy, vaccine
or document, dates in the reader's language) is most of these pages' cost, and what they
show changes only when:

- a row of the chart's record is written: a report, a result, a medication, an allergy,
  an immunization, a document or a refill request saved, deleted or bulk-updated (a
  review, a new release time, results linked to a report, a refill asked or answered),
  or the patient's record preference;
- the chart itself is written (its name);
- a release rule of the clinic is saved or deleted;
- time reaches the release moment of a result not shown yet (a rule "after N days").

Entries are kept with the chart's version and the clinic's rules version, under

    clinic:<id>:record-pages:<patient id>:<VERSION>:<section>:<language>:<time zone>:
        <page>:<own|for-someone-else>:<clinic name>:
        <what else the page reads: the shell (``open_pages.shell_parts``), Results' form>

and are used only while both versions are those they were kept with (the versions and
the entry are read in one round trip, ``portal.core.cache.versioned_entry``). Every
write above gives the chart (or the clinic's rules) a new version, now and again when
the transaction commits (``portal.core.cache.bump_versions``: a reader that rendered the
old rows before the commit keeps them with a version no one reads any more). Receivers
are connected in ``RecordsConfig.ready``, so web processes, Celery workers, management
commands and the FHIR API all count. ``bulk_create`` sends no signal: code that creates
record rows in bulk must call ``chart_changed`` itself.

Time: an entry carries the moment it stops being true (the next release time of a
result of the chart not shown yet, ``records.selectors.next_release``) and is not used
from then on, without any write; every entry expires after ``TIMEOUT`` seconds anyway.

An entry is written only after the page's access check (the views' decorators), and its
key carries the chart the request acts for and whether the reader is its patient: a hit
never shows another chart's record, nor the patient's page to someone acting for them.
Each read is still audited by the view, from the cache or not.
"""

import datetime as dt
import math

from django.utils import timezone
from django.utils.timezone import get_current_timezone_name
from django.utils.translation import get_language

from patients.models import Patient
from portal.core import open_pages
from portal.core.cache import (
    bump_versions,
    clinic_cache_key,
    drop_on_update,
    drop_on_write,
    keep_versioned,
    short_digest,
    versioned_entry,
)
from portal.core.open_pages import OpenPage
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
    RecordPreference,
    RefillRequest,
    ReleaseRule,
)

TIMEOUT = 300
VERSION = "3"  # of the entries' shape and of the templates: change it when either changes

CHART_ROWS = (
    DiagnosticReport,
    Observation,
    Medication,
    AllergyIntolerance,
    Immunization,
    Document,
    RecordPreference,
    RefillRequest,  # its state shows on the Medications page
)


def _chart_key(clinic_id, patient_id):
    return clinic_cache_key(clinic_id, "record-pages", patient_id, "version")


def _rules_key(clinic_id):
    return clinic_cache_key(clinic_id, "record-rules", "version")


def cached_page(
    request,
    *,
    section: str,
    render,
    page_number: str = "1",
    now: dt.datetime | None = None,
    variant: tuple = (),
    kind: type | None = None,
):
    """``render()``'s value for ``section`` of the chart the request acts for, from the
    cache while none of the chart's record (or the clinic's rules) changed and the
    moment it stops being true has not come. ``render`` returns ``(value,
    valid_until)``; ``valid_until`` None: no moment (until a write), a moment already
    past: keep nothing. ``variant``: what else the value depends on (strings), part of
    the key; ``kind``: the type a stored value must have to be used."""
    now = now or timezone.now()
    clinic, patient = request.clinic, request.patient
    key = clinic_cache_key(
        clinic.pk,
        "record-pages",
        patient.pk,
        VERSION,
        section,
        get_language(),
        get_current_timezone_name(),
        page_number,
        "for-someone-else" if request.access.acts_for_someone_else else "own",
        short_digest(clinic.public_name),
        *variant,
    )
    versions, entry = versioned_entry(
        [_chart_key(clinic.pk, patient.pk), _rules_key(clinic.pk)], key
    )
    if (
        isinstance(entry, tuple)
        and len(entry) == 2
        and (kind is None or isinstance(entry[0], kind))
        and (entry[1] is None or now < entry[1])
    ):
        return entry[0]
    value, valid_until = render()
    if valid_until is None:
        keep_versioned(key, versions, (value, None), TIMEOUT)
    elif now < valid_until:
        lifetime = math.ceil((valid_until - now).total_seconds())
        keep_versioned(key, versions, (value, valid_until), min(TIMEOUT, lifetime))
    return value


# A moment long past: what ``render`` returns as ``valid_until`` for a value not to keep.
NOT_KEPT = dt.datetime.min.replace(tzinfo=dt.UTC)


def kept_until(page, page_number: str, valid_until: dt.datetime | None = None):
    """``valid_until`` for a page of a list asked for as ``page_number``, if that is the
    page's own number; ``NOT_KEPT`` for any other spelling of it ("007", "last", a
    number past the end): each would be an entry of its own."""
    return valid_until if str(page.number) == page_number else NOT_KEPT


def cached_document(
    request,
    *,
    section: str,
    render,
    page_number: str = "1",
    now: dt.datetime | None = None,
    variant: tuple = (),
) -> OpenPage:
    """A whole record page (``portal.core.open_pages``): ``render()`` returns ``(OpenPage,
    valid_until)``. Served from the cache for a GET or HEAD of the page's own address
    (no query, or only its page number) with nothing else waiting to be shown; any other
    view renders the page and keeps nothing. Fill it in with ``.response(request)``."""
    query = request.META.get("QUERY_STRING", "")
    if not open_pages.servable(request) or query not in ("", f"page={page_number}"):
        return render()[0]
    return cached_page(
        request,
        section=section,
        render=render,
        page_number=page_number,
        now=now,
        variant=(*variant, *open_pages.shell_parts(request)),
        kind=OpenPage,
    )


def chart_changed(*, clinic_id: int, patient_id: int) -> None:
    """The chart's record changed in a way no signal tells (e.g. ``bulk_create``)."""
    bump_versions([_chart_key(clinic_id, patient_id)])


def _row_written(sender, instance, **kwargs):
    if instance.clinic_id is not None and instance.patient_id is not None:
        chart_changed(clinic_id=instance.clinic_id, patient_id=instance.patient_id)


def _rows_updated(sender, rows, **kwargs):
    bump_versions(
        _chart_key(row["clinic_id"], row["patient_id"])
        for row in rows
        if row["clinic_id"] is not None and row["patient_id"] is not None
    )


def _rule_written(sender, instance, **kwargs):
    if instance.clinic_id is not None:
        bump_versions([_rules_key(instance.clinic_id)])


def _rules_updated(sender, rows, **kwargs):
    bump_versions(_rules_key(row["clinic_id"]) for row in rows if row["clinic_id"] is not None)


def _chart_written(sender, instance, **kwargs):
    if instance.clinic_id is not None and instance.pk is not None:
        chart_changed(clinic_id=instance.clinic_id, patient_id=instance.pk)


def _charts_updated(sender, rows, **kwargs):
    # Bulk updates of charts report only their ids (rare: an admin action).
    charts = Patient.objects.filter(pk__in=[row["pk"] for row in rows]).values("pk", "clinic_id")
    bump_versions(_chart_key(row["clinic_id"], row["pk"]) for row in charts)


def connect_receivers():
    drop_on_write(_row_written, *CHART_ROWS, uid="record-pages")
    drop_on_update(_rows_updated, *CHART_ROWS, uid="record-pages")
    drop_on_write(_rule_written, ReleaseRule, uid="record-pages")
    drop_on_update(_rules_updated, ReleaseRule, uid="record-pages")
    drop_on_write(_chart_written, Patient, uid="record-pages")
    drop_on_update(_charts_updated, Patient, uid="record-pages")
