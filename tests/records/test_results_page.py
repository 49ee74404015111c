"""The patient's Results page under "Health record": only what the release rules show,
newest first and grouped by report, each value with its unit, range and flag in words, a
numeric test's trend as an inline SVG with a table of its values; the patient's chart
only (a representative without the health record, another patient, another clinic: 404);
audited; a fixed number of queries; in French too."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail

from portal.audit.models import AuditEvent
from records import services
from records.models import DiagnosticReport, Observation, RecordPreference, ReleaseRule
from tests.clients import host_client, portal_client
from tests.factories import (
    DiagnosticReportFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

URL = "/portal/health-record/results/"
DAY = dt.timedelta(days=1)


@pytest.fixture
def chart(clinic):
    return PatientFactory(clinic=clinic, first_name="Olivia", email="olivia@example.com")


@pytest.fixture
def olivia(chart):
    return PatientAccessFactory(patient=chart).user


@pytest.fixture
def client(olivia):
    client = portal_client(olivia)
    client.get("/portal/")  # per-process caches (the tenant look-up) warmed
    return client


def page(client):
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


# --- What is shown ------------------------------------------------------------------------


def test_a_report_shows_its_results_with_units_ranges_and_flags_in_words(
    frozen, now, chart, client
):
    report = DiagnosticReportFactory(
        patient=chart, display="Metabolic panel", date=now - DAY, conclusion="Mostly fine."
    )
    ObservationFactory(
        patient=chart,
        report=report,
        display="Potassium",
        code="2823-3",
        value_quantity=6.2,
        value_unit="mmol/L",
        range_low=3.5,
        range_high=5.1,
        interpretation="HH",
        date=now - DAY,
    )
    ObservationFactory(
        patient=chart,
        report=report,
        display="Sodium",
        code="2951-2",
        value_quantity=Decimal("140"),
        value_unit="mmol/L",
        range_low=135,
        range_high=145,
        interpretation="N",
        date=now - DAY,
    )
    ObservationFactory(
        patient=chart,
        display="Hemoglobin A1c",
        code="4548-4",
        value_quantity=Decimal("7.10"),
        value_unit="%",
        range_low=None,
        range_high=Decimal("5.7"),
        interpretation="H",
        date=now - 3 * DAY,
    )

    html = page(client)

    panel = html[html.index("Metabolic panel") : html.index("Hemoglobin A1c")]
    assert "Potassium" in panel and "Sodium" in panel and "Mostly fine." in panel
    assert "6.2 mmol/L" in panel and "3.5–5.1 mmol/L" in panel and "Critically high" in panel
    assert "140 mmol/L" in panel and "Normal" in panel
    assert "7.1 %" in html and "≤ 5.7 %" in html and ">High<" in html
    assert ">H<" not in html and ">HH<" not in html
    assert "14 January 2030" in html and "12 January 2030" in html  # DATE_FORMAT


def test_newest_first_reports_and_standalone_results_interleaved(frozen, now, chart, client):
    ObservationFactory(patient=chart, display="Oldest alone", code="a", date=now - 9 * DAY)
    DiagnosticReportFactory(patient=chart, display="Middle report", date=now - 5 * DAY)
    ObservationFactory(patient=chart, display="Newest alone", code="b", date=now - DAY)

    html = page(client)

    assert html.index("Newest alone") < html.index("Middle report") < html.index("Oldest alone")


def test_results_are_shown_by_the_release_rule_not_before(
    frozen, now, clinic, chart, olivia, client, django_capture_on_commit_callbacks
):
    """Released three days after issue: absent before, there after; the notice links here.
    (A new sign-in after each move of the clock: the idle timeout ends the old one.)"""
    ReleaseRule.objects.create(
        clinic=clinic, category="lab", mode=ReleaseRule.Mode.AFTER_DAYS, days=3
    )
    ehr = UserFactory(clinic=clinic, username="ehr")
    with django_capture_on_commit_callbacks(execute=True):
        services.record_save(
            model=Observation,
            clinic=clinic,
            patient=chart,
            actor=ehr,
            fields={
                "code": "2345-7",
                "display": "Glucose",
                "category": "lab",
                "status": "final",
                "issued": now,
                "date": now,
                "value_quantity": 5,
                "value_unit": "mmol/L",
            },
        )
    assert "Glucose" not in page(client)
    assert "No results to show yet" in page(client)

    frozen.shift(3 * DAY - dt.timedelta(minutes=1))
    assert "Glucose" not in page(portal_client(olivia))

    frozen.shift(dt.timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        services.result_notices_send(clinic=clinic)
    assert "Glucose" in page(portal_client(olivia))
    assert f"demo.{settings.PORTAL_BASE_DOMAIN}" in mail.outbox[-1].body
    assert URL in mail.outbox[-1].body


def test_a_result_not_final_or_in_an_unreleased_report_is_not_shown(frozen, now, chart, client):
    hidden = DiagnosticReportFactory(patient=chart, display="Pending panel", release_at=None)
    ObservationFactory(patient=chart, report=hidden, display="Inside pending")
    ObservationFactory(patient=chart, display="Preliminary one", status="preliminary")

    html = page(client)

    assert "Pending panel" not in html and "Inside pending" not in html
    assert "Preliminary one" not in html


def test_the_empty_page_says_what_the_clinic_shares(chart, client):
    html = page(client)
    assert "No results to show yet" in html and "Demo Family Clinic" in html


def test_the_read_is_audited(chart, client, olivia):
    page(client)
    event = AuditEvent.objects.get(action="record.viewed")
    assert event.details == {"section": "results"}


# --- Pages of groups -------------------------------------------------------------------------


def results_of(html):
    """The page between its title and the preference form (the form's CSRF token is new
    on every request)."""
    return html[html.index("<h1>") : html.index('<section class="result-preference"')]


def groups_of(html):
    return re.findall(r'<h2 id="result-group-\d+">([^<]+)</h2>', html)


def test_results_come_twenty_groups_a_page_newest_first(frozen, now, chart, client):
    for n in range(45):
        report = DiagnosticReportFactory(patient=chart, display=f"Panel {n}", date=now - n * DAY)
        ObservationFactory(patient=chart, report=report, display=f"Inside {n}", date=report.date)

    first = page(client)
    assert groups_of(first) == [f"Panel {n}" for n in range(20)]
    assert "Inside 19" in first and "Inside 20" not in first
    pager = first[first.index('<nav class="actions" aria-label="Pages">') :]
    assert "Page 1 of 3" in pager and 'href="?page=2" rel="next">Older<' in pager
    assert 'rel="prev"' not in pager

    second = client.get(URL + "?page=2").content.decode()
    assert groups_of(second) == [f"Panel {n}" for n in range(20, 40)]
    assert 'href="?page=1" rel="prev">Newer<' in second and 'href="?page=3"' in second
    last = client.get(URL + "?page=3").content.decode()
    assert groups_of(last) == [f"Panel {n}" for n in range(40, 45)]
    assert 'rel="next"' not in last
    # Out of range or not a number: the nearest page, never an error.
    assert groups_of(client.get(URL + "?page=99").content.decode()) == groups_of(last)
    assert groups_of(client.get(URL + "?page=x").content.decode()) == groups_of(first)


def test_one_page_has_no_page_links(frozen, now, chart, client):
    ObservationFactory(patient=chart, display="Glucose", date=now - DAY)
    assert 'aria-label="Pages"' not in page(client)


def test_results_alone_of_one_day_are_one_group_each_named(frozen, now, chart, client):
    """Weight, pressure and glucose taken at one visit: one entry under the day; the same
    test every day: an entry a day (the trend on the newest)."""
    morning = now - 2 * DAY  # 09:00 in Toronto
    for hours, name in ((0, "Body weight"), (1, "Blood pressure"), (2, "Glucose")):
        ObservationFactory(
            patient=chart, display=name, code=name, date=morning + dt.timedelta(hours=hours)
        )
    ObservationFactory(patient=chart, display="Glucose", code="Glucose", date=now - 5 * DAY)

    html = page(client)

    assert groups_of(html) == ["Results of 13 January 2030", "Glucose"]
    day = html[html.index("Results of 13 January 2030") : html.index('id="result-group-2"')]
    names = re.findall(r'<p class="result-name">([^<]+)</p>', day)
    assert names == ["Glucose", "Blood pressure", "Body weight"]  # newest first


def test_the_day_of_results_alone_is_the_readers_day(frozen, now, chart, client):
    """23:30 and 00:30 in Toronto are two days, though one UTC day."""
    late = dt.datetime(2030, 1, 13, 4, 30, tzinfo=dt.UTC)  # 12 January, 23:30 in Toronto
    ObservationFactory(patient=chart, display="Late", code="a", date=late)
    ObservationFactory(patient=chart, display="Early", code="b", date=late + dt.timedelta(hours=1))
    assert groups_of(page(client)) == ["Early", "Late"]


def test_the_pages_in_french(frozen, now, chart, client):
    for n in range(21):
        ObservationFactory(patient=chart, display=f"Test {n}", code=str(n), date=now - n * DAY)
    ObservationFactory(patient=chart, display="Autre", code="x", date=now - DAY)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    html = page(client)
    assert "Résultats du 14 janvier 2030" in html
    assert "Page 1 sur 2" in html and ">Plus anciens<" in html


# --- The trend ------------------------------------------------------------------------------


def glucose_series(chart, now, count):
    return Observation.objects.bulk_create(
        ObservationFactory.build(
            patient=chart,
            display="Glucose",
            code="2345-7",
            value_quantity=Decimal(4) + Decimal(n % 7) / 2,
            date=now - (count - n) * DAY,
            release_at=now - (count - n) * DAY,
        )
        for n in range(count)
    )


def test_one_value_shows_the_value_and_no_chart(frozen, now, chart, client):
    glucose_series(chart, now, 1)
    html = page(client)
    assert "4 mmol/L" in html
    assert "<svg" not in html and "values over time" not in html


def test_fifty_values_draw_a_bounded_chart_with_its_table(frozen, now, chart, client):
    glucose_series(chart, now, 50)

    html = page(client)

    assert html.count("<svg") == 1  # with the newest value only
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and 'viewBox="0 0 320 120"' in svg
    assert svg.count("<circle") == 50
    title_id = re.search(r'aria-labelledby="([^"]+)"', svg).group(1)
    assert f'<title id="{title_id}">Trend of Glucose: 50 values from' in svg
    coordinates = [float(v) for v in re.findall(r'c[xy]="([\d.]+)"', svg)]
    assert all(0 <= v <= 320 for v in coordinates)
    table = html[html.index("Glucose: the values over time") :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 51  # header + 50 values, newest first
    assert table.index("14 January 2030") < table.index("26 November 2029")


def test_a_value_in_another_unit_is_not_drawn_in_the_same_chart(frozen, now, chart, client):
    glucose_series(chart, now, 2)
    ObservationFactory(
        patient=chart,
        code="2345-7",
        display="Glucose",
        value_quantity=90,
        value_unit="mg/dL",
        date=now - 30 * DAY,
    )
    svg = page(client).split("<svg")[1].split("</svg>")[0]
    assert svg.count("<circle") == 2


# --- The patient's choice -----------------------------------------------------------------


def test_the_patient_chooses_to_wait_for_the_review(frozen, chart, client):
    response = client.post(URL + "preference/", {"wait_for_review": "on"}, follow=True)

    assert RecordPreference.objects.get(patient=chart).wait_for_review
    html = response.content.decode()
    assert "New results will show once your clinician has reviewed them" in html
    assert re.search(r'<input type="checkbox" name="wait_for_review"[^>]* checked', html)
    client.post(URL + "preference/", {})
    assert not RecordPreference.objects.get(patient=chart).wait_for_review
    assert AuditEvent.objects.filter(action="record.preference_changed").count() == 2


def test_the_preference_needs_a_post_with_csrf(chart, olivia):
    strict = portal_client(olivia, enforce_csrf_checks=True)
    assert strict.post(URL + "preference/", {"wait_for_review": "on"}).status_code == 403
    assert portal_client(olivia).get(URL + "preference/").status_code == 405
    assert not RecordPreference.objects.filter(patient=chart).exists()


# --- Access ----------------------------------------------------------------------------------


def test_signed_out_goes_to_sign_in(clinic):
    response = host_client("demo").get(URL)
    assert response.status_code == 302


def test_another_patient_sees_only_their_own(clinic, chart, client):
    other = PatientFactory(clinic=clinic)
    ObservationFactory(patient=other, display="Someone else's ferritin")
    ObservationFactory(patient=chart, display="Own ferritin")
    html = page(client)
    assert "Own ferritin" in html and "Someone else" not in html


def test_a_carer_with_every_scope_but_the_health_record_gets_404_on_every_results_url(
    clinic, chart, olivia
):
    ObservationFactory(patient=chart, display="Glucose")
    parent = PatientAccessFactory(
        patient=chart,
        user=UserFactory(clinic=clinic, username="carer"),
        relationship="carer",
        can_appointments=True,
        can_messages=True,
        can_demographics=True,
        can_health_record=False,
    ).user
    client = portal_client(parent, chart)
    assert client.get(URL).status_code == 404
    assert client.post(URL + "preference/", {"wait_for_review": "on"}).status_code == 404
    assert not RecordPreference.objects.filter(patient=chart).exists()
    assert "Health record" not in client.get("/portal/").content.decode()


def test_a_representative_acting_for_someone_else_does_not_see_their_record(clinic, chart, olivia):
    other = PatientFactory(clinic=clinic)
    ObservationFactory(patient=other, display="Gerard's glucose")
    PatientAccessFactory(patient=other, user=olivia, relationship="spouse")
    client = portal_client(olivia, other)
    assert client.get(URL).status_code == 404
    own = portal_client(olivia, chart)
    assert "Gerard" not in own.get(URL).content.decode()


def test_an_account_of_another_clinic_has_no_access(other_clinic, chart):
    ObservationFactory(patient=chart, display="Glucose")
    outsider = PatientAccessFactory(patient=PatientFactory(clinic=other_clinic)).user
    client = host_client("demo", outsider)
    assert client.get(URL).status_code in (302, 403, 404)
    assert "Glucose" not in client.get(URL).content.decode()


# --- Queries and language ------------------------------------------------------------------

# Rendered: session, preference, reports, results, the next release moment, audit. From
# the cache: session, audit. (The clinic, account and grants come from the cache.)
RESULTS_PAGE_QUERIES = 6
RESULTS_PAGE_QUERIES_CACHED = 2


def make_results(chart, now, count):
    reports = DiagnosticReport.objects.bulk_create(
        DiagnosticReportFactory.build(patient=chart, date=now - n * DAY, release_at=now - n * DAY)
        for n in range(count // 5 or 1)
    )
    Observation.objects.bulk_create(
        ObservationFactory.build(
            patient=chart,
            report=reports[n % len(reports)] if n % 2 else None,
            code=f"code-{n % 10}",
            display=f"Test {n % 10}",
            value_quantity=Decimal(n % 9),
            date=now - n * DAY,
            release_at=now - n * DAY,
        )
        for n in range(count)
    )


@pytest.mark.parametrize("count", [1, 500])
def test_the_results_page_runs_a_fixed_number_of_queries(
    count, frozen, now, settings, chart, olivia, django_assert_num_queries
):
    # With REDIS_URL the session is read from the cache; pin the counts for one engine.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    client = portal_client(olivia)
    client.get("/portal/")
    make_results(chart, now, count)
    with django_assert_num_queries(RESULTS_PAGE_QUERIES) as queries:
        html = page(client)
    # One report and one result alone; or 100 reports and 250 results alone, each on its
    # own day: the first 20 groups.
    assert html.count('class="result-group"') == (2 if count == 1 else 20)
    assert sum("records_observation" in q["sql"] for q in queries.captured_queries) == 2
    with django_assert_num_queries(RESULTS_PAGE_QUERIES_CACHED) as queries:
        cached = page(client)
    assert results_of(cached) == results_of(html)
    assert not any("records_" in q["sql"] for q in queries.captured_queries)


def test_the_page_in_french(frozen, now, chart, client):
    ObservationFactory(
        patient=chart,
        display="Glucose",
        value_quantity=Decimal("5.4"),
        interpretation="L",
        date=now - DAY,
    )
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    html = page(client)
    assert '<html lang="fr">' in html
    assert "Résultats" in html and "Dossier de santé" in html
    assert "Bas" in html and "5,4 mmol/L" in html and "14 janvier 2030" in html
    assert "Intervalle habituel" in html
    assert "Attendre" in html
