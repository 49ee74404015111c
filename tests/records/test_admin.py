"""The health record in the clinic admin: a read-only section on the chart's page and
read-only lists (staff see every entry), audited reads, and the release rules only
clinic admins set, applied at once to results not yet shown."""

import pytest

from portal.audit.models import AuditEvent
from records.models import ReleaseRule
from tests.clients import client_for
from tests.factories import (
    AllergyFactory,
    DiagnosticReportFactory,
    DocumentFactory,
    ObservationFactory,
    PatientFactory,
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
