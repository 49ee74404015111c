"""A clinic admin reads the audit log on a phone without JavaScript: filters it by dates
and by action, in words, and downloads what it shows."""

from pathlib import Path

import pytest

from portal.audit.services import audit_record
from tests.e2e.browser import PHONE, STEP_TIMEOUT_MS, admin_sign_in
from tests.factories import ClinicAdminFactory, ClinicFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_filter_the_log_by_dates_and_action_then_export_it(browser, clinic_url, screenshot, frozen):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    ClinicAdminFactory(clinic=clinic, username="admin")
    audit_record(action="staff.invitation_sent", clinic=clinic)
    context = browser.new_context(viewport=PHONE, is_mobile=True, java_script_enabled=False)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()

    admin_sign_in(page, clinic_url("demo", "/admin/audit/auditevent/"), "admin")
    page.get_by_label("From").fill("2030-01-14")
    page.get_by_label("To (included)").fill("2030-01-14")
    page.get_by_role("button", name="Show these dates").click()
    page.get_by_role("link", name="Staff invitation sent").click()
    page.get_by_role("link", name="Any date").wait_for()
    assert page.locator("#result_list tbody tr").count() == 1
    screenshot(page, "audit-log-phone")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these events (CSV)").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "Staff invitation sent" in lines[1]
    context.close()
