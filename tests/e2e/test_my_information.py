"""A patient asks to change their address; front desk accepts it in Patient Requests."""

import re

import pytest

from tests.e2e.browser import STEP_TIMEOUT_MS, admin_sign_in, portal_session_in
from tests.factories import ClinicFactory, PatientAccessFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_an_address_change_goes_through_patient_requests(browser, clinic_url, screenshot):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    StaffFactory(clinic=clinic, username="frontdesk")
    grant = PatientAccessFactory(
        patient=PatientFactory(
            clinic=clinic, first_name="Olivia", address_line1="10 Main Street", city="Ottawa"
        )
    )
    patient_context = browser.new_context(viewport={"width": 360, "height": 740})
    staff_context = browser.new_context(viewport={"width": 1280, "height": 900})
    for context in (patient_context, staff_context):
        context.set_default_timeout(STEP_TIMEOUT_MS)
    portal_session_in(patient_context, clinic_url("demo", "/"), grant.user, grant.patient)
    patient, staff = patient_context.new_page(), staff_context.new_page()

    patient.goto(clinic_url("demo", "/portal/"))
    patient.get_by_role("link", name="My information").first.click()
    assert "10 Main Street" in patient.locator("#chart-details").inner_text()
    patient.get_by_role("link", name="Ask for a change").click()
    patient.get_by_label("Street address").fill("22 Rideau Street")
    patient.get_by_role("button", name="Send to the clinic").click()
    patient.get_by_text("Your request was sent to the clinic.").wait_for()
    assert "Waiting for the clinic" in patient.content()
    assert "10 Main Street" in patient.locator("#chart-details").inner_text()
    screenshot(patient, "my-information-pending-phone")

    admin_sign_in(staff, clinic_url("demo", "/admin/patients/changerequest/"), "frontdesk")
    staff.get_by_role("link", name=re.compile(r"\d{4}")).first.click()
    assert "22 Rideau Street" in staff.locator("#request-items").inner_text()
    screenshot(staff, "patient-request-admin")
    staff.get_by_role("button", name="Accept", exact=True).click()
    staff.get_by_text("Accepted at").wait_for()

    patient.reload()
    assert "22 Rideau Street" in patient.locator("#chart-details").inner_text()
    assert "Accepted" in patient.locator(".request-status").first.inner_text()
    patient_context.close()
    staff_context.close()
