"""The health record in the clinic admin: a read-only section on the chart's page and
read-only lists (staff see every entry), audited reads, and the release rules only
clinic admins set, applied at once to results not yet shown."""

import pytest
from django.utils import timezone

from portal.audit.models import AuditEvent
from records import services
from records.models import ReleaseRule
from records.selectors import results_released_to_patient
from tests.clients import client_for, portal_client
from tests.factories import (
    AllergyFactory,
    DiagnosticReportFactory,
    DocumentFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientFactory,
    named,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def chart(clinic):
    return PatientFactory(clinic=clinic, first_name="Olivia", last_name="Martin")


def test_the_charts_page_shows_its_record_newest_first_and_nothing_of_another_chart(
    fiona, chart, clinic, frozen
):
    ObservationFactory(patient=chart, display="Glucose")
    AllergyFactory(patient=chart, display="Penicillin")
    DocumentFactory(patient=chart, title="Visit summary, January")
    ObservationFactory(patient=PatientFactory(clinic=clinic), display="Ferritin")

    page = client_for(fiona).get(f"/admin/patients/patient/{chart.pk}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="health-record"' in html
    assert "Glucose" in html and "Penicillin" in html and "Visit summary, January" in html
    assert "Ferritin" not in html


def test_the_section_links_to_every_entry_when_there_are_more_than_it_shows(fiona, chart, frozen):
    for _ in range(6):
        ObservationFactory(patient=chart)

    html = client_for(fiona).get(f"/admin/patients/patient/{chart.pk}/change/").content.decode()

    assert f"/admin/records/observation/?patient__id__exact={chart.pk}" in html
    listed = client_for(fiona).get(f"/admin/records/observation/?patient__id__exact={chart.pk}")
    assert listed.status_code == 200
    assert len(listed.context["cl"].result_list) == 6


def test_entries_are_read_only_and_opening_one_is_audited(fiona, chart, frozen):
    report = DiagnosticReportFactory(patient=chart)
    staff = client_for(fiona)

    page = staff.get(f"/admin/records/diagnosticreport/{report.pk}/change/")

    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert staff.get("/admin/records/diagnosticreport/add/").status_code == 403
    event = AuditEvent.objects.get(action="record.viewed")
    assert (event.actor, event.acting_for, event.object_id) == (fiona, chart, str(report.pk))


def test_another_clinics_staff_get_a_404_for_an_entry(outsider_staff, chart, frozen):
    report = DiagnosticReportFactory(patient=chart)

    response = client_for(outsider_staff).get(
        f"/admin/records/diagnosticreport/{report.pk}/change/"
    )

    assert response.status_code in (302, 404)
    assert b"Comprehensive" not in response.content


def test_a_clinic_admin_sets_a_rule_and_waiting_results_follow_it(
    clinic_admin, chart, clinic, frozen, now
):
    waiting = ObservationFactory(patient=chart, category="laboratory", release_at=None)

    response = client_for(clinic_admin).post(
        "/admin/records/releaserule/add/",
        {"category": " Laboratory ", "mode": "at_once", "days": "0"},
    )

    assert response.status_code == 302, response.content
    rule = ReleaseRule.objects.get()
    assert (rule.clinic, rule.category) == (clinic, "laboratory")
    waiting.refresh_from_db()
    assert waiting.release_at is not None and waiting.release_at <= now
    event = AuditEvent.objects.get(action="record.release_rules_changed")
    assert event.details["results_rescheduled"] == 1


def test_front_desk_may_read_the_rules_but_not_change_them(fiona, clinic):
    ReleaseRule.objects.create(clinic=clinic, category="lab", mode=ReleaseRule.Mode.AT_ONCE)
    staff = client_for(fiona)

    assert staff.get("/admin/records/releaserule/").status_code == 200
    assert staff.get("/admin/records/releaserule/add/").status_code == 403


# --- "Mark reviewed" ----------------------------------------------------------------------------

REPORTS = "/admin/records/diagnosticreport/"
RESULTS = "/admin/records/observation/"


@pytest.fixture
def waiting(clinic, chart):
    """A report the clinic shows only after review, not reviewed yet; Olivia has a
    portal account and an email for the notice."""
    ReleaseRule.objects.create(clinic=clinic, mode=ReleaseRule.Mode.AFTER_REVIEW)
    chart.email = "olivia@example.com"
    chart.save(update_fields=["email"])
    PatientAccessFactory(patient=chart)
    return DiagnosticReportFactory(patient=chart, display="Lipid panel", release_at=None)


def mark_reviewed(user, url, rows):
    return client_for(user, committing=False).post(
        url, {"action": "mark_reviewed", "_selected_action": [row.pk for row in rows]}, follow=True
    )


def shown_to_the_patient(chart):
    return list(results_released_to_patient(patient=chart, now=timezone.now()).reports)


def test_a_clinic_admin_marks_a_report_reviewed_and_the_patient_sees_it(
    named_admin, waiting, chart, frozen, mailoutbox, django_capture_on_commit_callbacks
):
    patient_page = portal_client(chart.access_grants.get().user)
    assert "Lipid panel" not in patient_page.get("/portal/health-record/results/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = mark_reviewed(named_admin, REPORTS, [waiting])

    assert "1 marked reviewed; the patient sees it as the release rules say." in (
        response.content.decode()
    )
    waiting.refresh_from_db()
    assert waiting.reviewed_at is not None and waiting.reviewed_by == "Ada Admin"
    assert shown_to_the_patient(chart) == [waiting]
    assert "Lipid panel" in patient_page.get("/portal/health-record/results/").content.decode()
    assert [m.to for m in mailoutbox] == [["olivia@example.com"]]
    event = AuditEvent.objects.get(action="record.reviewed")
    assert (event.actor, event.object_id) == (named_admin, str(waiting.pk))


def test_a_second_review_changes_nothing_and_says_so(
    named_admin, waiting, frozen, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mark_reviewed(named_admin, REPORTS, [waiting])
    waiting.refresh_from_db()
    first = waiting.reviewed_at
    frozen.shift(60)

    with django_capture_on_commit_callbacks(execute=True):
        response = mark_reviewed(named_admin, REPORTS, [waiting])

    assert "1 was already reviewed: left as it was." in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.reviewed_at == first
    assert len(mailoutbox) == 1
    assert AuditEvent.objects.filter(action="record.reviewed").count() == 1


def test_a_result_in_a_report_is_reviewed_with_its_report(named_admin, waiting, frozen):
    inside = ObservationFactory(patient=waiting.patient, report=waiting, release_at=None)
    alone = ObservationFactory(patient=waiting.patient, release_at=None)

    response = mark_reviewed(named_admin, RESULTS, [inside, alone]).content.decode()

    assert "1 marked reviewed" in response
    assert "1 belongs to a report: mark the report reviewed." in response
    inside.refresh_from_db()
    alone.refresh_from_db()
    assert inside.reviewed_at is None and alone.reviewed_at is not None


def test_the_front_desk_has_no_such_action(fiona, waiting, frozen):
    changelist = client_for(fiona).get(REPORTS).content.decode()
    assert "mark_reviewed" not in changelist

    mark_reviewed(fiona, REPORTS, [waiting])

    waiting.refresh_from_db()
    assert waiting.reviewed_at is None


def test_another_clinics_report_is_out_of_reach(outsider_staff, waiting, frozen):
    mark_reviewed(outsider_staff, REPORTS, [waiting])
    waiting.refresh_from_db()
    assert waiting.reviewed_at is None


def test_the_service_finds_no_result_outside_the_callers_clinic(other_clinic, waiting, frozen):
    with pytest.raises(type(waiting).DoesNotExist):
        services.result_mark_reviewed(
            clinic=other_clinic, result=waiting, reviewed_by="Someone", actor=None
        )
    waiting.refresh_from_db()
    assert waiting.reviewed_at is None


@pytest.fixture
def named_admin(clinic_admin):
    return named(clinic_admin, "Ada", "Admin")
