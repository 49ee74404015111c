"""The health record's pages from the cache (records/page_cache.py): a page is served
from the cache until something it shows changes — a row of the chart's record saved,
deleted or bulk-updated, a release rule of the clinic, the patient's preference, a
review, the chart itself, or the clock reaching a result's release moment — and never
to another chart or to someone acting for the patient. Every read is still audited.

A row written with ``bulk_create`` sends no signal: the tests use it to slip a change
past the cache, then show that the trigger under test drops the entry."""

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from patients.models import PatientAccess
from portal.audit.models import AuditEvent
from records import page_cache, services
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
    ReleaseRule,
)
from tests.clients import portal_client
from tests.factories import (
    AllergyFactory,
    DiagnosticReportFactory,
    DocumentFactory,
    ImmunizationFactory,
    MedicationFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BASE = "/portal/health-record/"
RESULTS = BASE + "results/"
DAY = dt.timedelta(days=1)


@pytest.fixture
def chart(clinic):
    return PatientFactory(clinic=clinic, first_name="Olivia", email="olivia@example.com")


@pytest.fixture
def olivia(chart):
    return PatientAccessFactory(patient=chart).user


@pytest.fixture
def client(olivia):
    return portal_client(olivia)


@pytest.fixture
def ehr(clinic):
    return UserFactory(clinic=clinic, username="ehr")


def html_of(client, url=RESULTS):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def record_queries(client, url=RESULTS) -> int:
    """How many queries of the request read the health record's tables."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return sum('"records_' in q["sql"] for q in queries)


def slipped(model, factory, **fields):
    """A row written without a signal: the cache does not hear of it."""
    return model.objects.bulk_create([factory.build(**fields)])[0]


def glucose(clinic, chart, ehr, *, issued, category="lab"):
    return services.record_save(
        model=Observation,
        clinic=clinic,
        patient=chart,
        actor=ehr,
        fields={
            "code": "2345-7",
            "display": "Glucose",
            "category": category,
            "status": "final",
            "issued": issued,
            "date": issued,
            "value_quantity": 5,
            "value_unit": "mmol/L",
        },
    )[0]


# --- Served from the cache ------------------------------------------------------------------


def test_a_second_view_reads_no_record_row_and_is_still_audited(frozen, now, chart, client):
    ObservationFactory(patient=chart, display="Ferritin", date=now - DAY)
    assert record_queries(client) > 0
    assert record_queries(client) == 0
    assert "Ferritin" in html_of(client)
    events = AuditEvent.objects.filter(action="record.viewed", acting_for_id=chart.pk)
    assert events.count() == 3


@pytest.mark.parametrize("section", ["medications", "allergies", "immunizations", "documents"])
def test_the_other_cached_pages_read_no_record_row_the_second_time(client, section):
    url = f"{BASE}{section}/"
    assert record_queries(client, url) > 0
    assert record_queries(client, url) == 0
    assert AuditEvent.objects.filter(details={"section": section}).count() == 2


def test_an_unchanged_chart_slips_past_the_cache(frozen, now, chart, client):
    """The premise of the tests below: a row written without a signal is not seen."""
    html_of(client)
    slipped(Observation, ObservationFactory, patient=chart, display="Slipped", date=now - DAY)
    assert "Slipped" not in html_of(client)


# --- Each change drops the chart's pages ------------------------------------------------------


def test_a_result_saved_shows_at_once(frozen, now, chart, client):
    assert "No results to show yet" in html_of(client)
    ObservationFactory(patient=chart, display="Ferritin", date=now - DAY)
    assert "Ferritin" in html_of(client)


def test_a_result_deleted_goes_at_once(frozen, now, chart, client):
    result = ObservationFactory(patient=chart, display="Ferritin", date=now - DAY)
    assert "Ferritin" in html_of(client)
    result.delete()
    assert "Ferritin" not in html_of(client)


def test_a_bulk_update_of_results_shows_at_once(frozen, now, chart, client):
    ObservationFactory(patient=chart, display="Ferritin", date=now - DAY)
    assert "Ferritin" in html_of(client)
    Observation.objects.filter(patient=chart).update(status="entered-in-error")
    assert "Ferritin" not in html_of(client)


def test_a_report_updated_in_bulk_shows_at_once(frozen, now, chart, client):
    report = DiagnosticReportFactory(patient=chart, display="Lipid panel", date=now - DAY)
    assert "Lipid panel" in html_of(client)
    DiagnosticReport.objects.filter(pk=report.pk).update(display="Lipid profile")
    assert "Lipid profile" in html_of(client)


def test_results_linked_to_a_report_move_into_it(frozen, now, chart, client):
    report = DiagnosticReportFactory(patient=chart, display="Lipid panel", date=now - DAY)
    result = ObservationFactory(patient=chart, display="LDL", code="ldl", date=now - 2 * DAY)
    assert "<h2" in html_of(client) and ">LDL</h2>" in html_of(client)
    services.report_results_link(report=report, observation_ids=[result.pk])
    html = html_of(client)
    assert ">LDL</h2>" not in html and '<p class="result-name">LDL</p>' in html


def test_a_release_rule_saved_drops_the_clinics_pages(frozen, now, clinic, chart, client):
    html_of(client)
    slipped(Observation, ObservationFactory, patient=chart, display="Slipped", date=now - DAY)
    ReleaseRule.objects.create(clinic=clinic, category="lab", mode=ReleaseRule.Mode.AT_ONCE)
    assert "Slipped" in html_of(client)


def test_a_release_rule_deleted_drops_the_clinics_pages(frozen, now, clinic, chart, client):
    rule = ReleaseRule.objects.create(clinic=clinic, mode=ReleaseRule.Mode.AT_ONCE)
    html_of(client)
    slipped(Observation, ObservationFactory, patient=chart, display="Slipped", date=now - DAY)
    rule.delete()
    assert "Slipped" in html_of(client)


def test_a_rule_of_another_clinic_leaves_this_clinics_pages(
    frozen, now, other_clinic, chart, client
):
    html_of(client)
    slipped(Observation, ObservationFactory, patient=chart, display="Slipped", date=now - DAY)
    ReleaseRule.objects.create(clinic=other_clinic, mode=ReleaseRule.Mode.AT_ONCE)
    assert "Slipped" not in html_of(client)


def test_a_new_rule_applied_releases_a_waiting_result(frozen, now, clinic, chart, ehr, client):
    glucose(clinic, chart, ehr, issued=now - DAY)  # no rule: waits for the review
    assert "Glucose" not in html_of(client)
    ReleaseRule.objects.create(clinic=clinic, mode=ReleaseRule.Mode.AT_ONCE)
    ReleaseRule.objects.filter(clinic=clinic).update(days=0)  # a bulk update counts too
    services.release_rules_apply(clinic=clinic)
    assert "Glucose" in html_of(client)


CHECKED = re.compile(r'<input type="checkbox" name="wait_for_review"[^>]* checked')


def test_the_patients_preference_changes_the_page(frozen, now, clinic, chart, olivia, ehr):
    ReleaseRule.objects.create(clinic=clinic, mode=ReleaseRule.Mode.AT_ONCE)
    own = PatientAccess.objects.get(patient=chart, user=olivia)
    services.record_preference_set(access=own, wait_for_review=True, actor=olivia)
    frozen.shift(dt.timedelta(hours=1))
    glucose(clinic, chart, ehr, issued=now)  # shown at once, but she waits for the review
    client = portal_client(olivia)
    html = html_of(client)
    assert "Glucose" not in html and CHECKED.search(html)

    client.post(RESULTS + "preference/", {})

    html = html_of(client)
    assert "Glucose" in html and not CHECKED.search(html)


def test_a_result_marked_reviewed_is_shown_and_announced(
    frozen, now, clinic, chart, olivia, ehr, mailoutbox, django_capture_on_commit_callbacks
):
    ReleaseRule.objects.create(clinic=clinic, mode=ReleaseRule.Mode.AFTER_REVIEW)
    result = glucose(clinic, chart, ehr, issued=now)
    assert "Glucose" not in html_of(portal_client(olivia))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.result_mark_reviewed(
            clinic=result.clinic, result=result, reviewed_by="Dr Ada", actor=ehr
        )
    assert "Glucose" in html_of(portal_client(olivia))
    assert len(mailoutbox) == 1


def test_the_chart_saved_drops_its_pages(frozen, now, chart, client):
    html_of(client)
    slipped(Observation, ObservationFactory, patient=chart, display="Slipped", date=now - DAY)
    chart.last_name = "Renamed"
    chart.save(update_fields=["last_name"])
    assert "Slipped" in html_of(client)


def test_the_clinics_name_is_part_of_the_entry(frozen, now, clinic, chart, client):
    ObservationFactory(patient=chart, display="Ferritin", date=now - DAY)
    html_of(client)
    clinic.display_name = "Renamed Family Clinic"
    clinic.save()
    assert "Your test results from Renamed Family Clinic" in html_of(client)


@pytest.mark.parametrize(
    ("section", "model", "factory", "shown"),
    [
        ("medications", Medication, MedicationFactory, "display"),
        ("allergies", AllergyIntolerance, AllergyFactory, "display"),
        ("immunizations", Immunization, ImmunizationFactory, "display"),
        ("documents", Document, DocumentFactory, "title"),
    ],
)
def test_each_row_written_saved_deleted_or_updated_shows_at_once(
    chart, client, section, model, factory, shown
):
    url = f"{BASE}{section}/"
    html_of(client, url)
    row = factory(patient=chart, **{shown: "First name"})
    assert "First name" in html_of(client, url)
    model.objects.filter(pk=row.pk).update(**{shown: "Second name"})
    assert "Second name" in html_of(client, url)
    row.refresh_from_db()
    row.delete()
    assert "Second name" not in html_of(client, url)


def test_a_refill_asked_and_answered_shows_at_once(chart, olivia, client, front_desk):
    medication = MedicationFactory(patient=chart, display="Atorvastatin 20 mg tablet")
    url = f"{BASE}medications/"
    assert "Request a refill" in html_of(client, url)
    made = services.refill_request_create(
        patient=chart, medication_id=medication.pk, pharmacy_note="Main St", requested_by=olivia
    )
    assert "Refill requested on" in html_of(client, url)
    services.refill_request_decline(refill_request=made, decided_by=front_desk, answer="Call us")
    page = html_of(client, url)
    assert "Refill declined on" in page and "Call us" in page


# --- Time --------------------------------------------------------------------------------------


def test_a_result_released_after_days_shows_at_its_moment_without_any_write(
    frozen, now, clinic, chart, olivia, ehr
):
    """Released three days after issue: cached before, shown at the moment with no write
    (a new sign-in after each move of the clock: the idle timeout ends the old one)."""
    ReleaseRule.objects.create(
        clinic=clinic, category="lab", mode=ReleaseRule.Mode.AFTER_DAYS, days=3
    )
    glucose(clinic, chart, ehr, issued=now)
    assert "Glucose" not in html_of(portal_client(olivia))

    # Rendered again two minutes before the moment (entries live 5 minutes at most) ...
    frozen.shift(3 * DAY - dt.timedelta(minutes=2))
    client = portal_client(olivia)
    assert "Glucose" not in html_of(client)
    # ... and served from the cache until the last second before it.
    frozen.shift(dt.timedelta(minutes=2) - dt.timedelta(seconds=1))
    client = portal_client(olivia)
    assert record_queries(client) == 0
    assert "Glucose" not in html_of(client)

    frozen.shift(dt.timedelta(seconds=1))
    assert "Glucose" in html_of(portal_client(olivia))


def test_a_report_released_later_bounds_the_entry_by_its_own_moment(
    frozen, now, clinic, chart, olivia
):
    report = DiagnosticReportFactory(
        patient=chart, display="Lipid panel", date=now, release_at=now + 2 * DAY
    )
    ObservationFactory(patient=chart, report=report, display="LDL", release_at=now + 9 * DAY)
    assert "Lipid panel" not in html_of(portal_client(olivia))
    frozen.shift(2 * DAY)
    html = html_of(portal_client(olivia))
    assert "Lipid panel" in html and "LDL" in html


def test_the_next_release_is_the_first_pending_moment_in_one_query(
    frozen, now, chart, django_assert_num_queries
):
    from records.selectors import next_release

    ObservationFactory(patient=chart, release_at=now - DAY)  # shown already
    ObservationFactory(patient=chart, release_at=now + 5 * DAY)
    ObservationFactory(patient=chart, release_at=now + DAY, status="preliminary")  # never
    ObservationFactory(patient=chart, release_at=None)  # at review: a write
    report = DiagnosticReportFactory(patient=chart, release_at=now + 3 * DAY)
    ObservationFactory(patient=chart, report=report, release_at=now + 2 * DAY)  # with report
    ObservationFactory(patient=PatientFactory(clinic=chart.clinic), release_at=now + DAY)
    with django_assert_num_queries(1):
        assert next_release(patient=chart, now=now) == now + 3 * DAY
    assert next_release(patient=chart, now=now + 4 * DAY) == now + 5 * DAY
    assert next_release(patient=chart, now=now + 5 * DAY) is None


# --- Whose entry ---------------------------------------------------------------------------------


def test_another_chart_never_gets_this_charts_page(frozen, now, clinic, chart, client):
    ObservationFactory(patient=chart, display="Ferritin of Olivia", date=now - DAY)
    html_of(client)
    other = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Gerard"))
    ObservationFactory(patient=other.patient, display="Glucose of Gerard", date=now - DAY)
    html = html_of(portal_client(other.user))
    assert "Glucose of Gerard" in html and "Olivia" not in html
    assert "Ferritin of Olivia" in html_of(client)


def test_a_representative_never_gets_the_patients_cached_page(frozen, now, clinic, chart, client):
    ObservationFactory(patient=chart, display="Ferritin", date=now - DAY)
    assert "Ferritin" in html_of(client)
    carer = PatientAccessFactory(
        patient=chart, user=UserFactory(clinic=clinic, username="carer"), relationship="carer"
    ).user
    assert portal_client(carer, chart).get(RESULTS).status_code == 404


def fake_request(clinic, patient, *, for_someone_else=False):
    return SimpleNamespace(
        clinic=clinic,
        patient=patient,
        access=SimpleNamespace(acts_for_someone_else=for_someone_else),
    )


def test_the_key_carries_chart_reader_language_time_zone_and_page(clinic, chart, now):
    rendered = []

    def render():
        rendered.append(1)
        return len(rendered), None

    def value(request, page="1", language="en", zone="America/Toronto"):
        with translation.override(language), _time_zone(zone):
            return page_cache.cached_page(
                request, section="results", page_number=page, now=now, render=render
            )

    own = fake_request(clinic, chart)
    assert value(own) == value(own) == 1
    assert value(fake_request(clinic, chart, for_someone_else=True)) == 2
    assert value(fake_request(clinic, PatientFactory(clinic=clinic))) == 3
    assert value(own, language="fr") == 4
    assert value(own, zone="Europe/Paris") == 5
    assert value(own, page="2") == 6
    assert value(own) == 1


def test_an_entry_past_its_moment_is_rendered_again(clinic, chart, now):
    rendered = []

    def render():
        rendered.append(1)
        return len(rendered), now + DAY

    def value(at):
        return page_cache.cached_page(
            fake_request(clinic, chart), section="results", now=at, render=render
        )

    assert value(now) == value(now + DAY - dt.timedelta(seconds=1)) == 1
    assert value(now + DAY) == 2
    assert value(now + DAY) == 3  # past its moment: not kept


def _time_zone(name):
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    return timezone.override(ZoneInfo(name))
