"""Front desk brings a patient onto the portal from the admin; a clinic admin revokes."""

import re

import pytest
from django.core import mail

from tests.e2e.browser import STEP_TIMEOUT_MS, admin_sign_in
from tests.factories import ClinicAdminFactory, ClinicFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_quick_add_invite_register_and_revoke(browser, clinic_url, screenshot):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    ClinicAdminFactory(clinic=clinic, username="admin")
    staff_context = browser.new_context(viewport={"width": 1280, "height": 900})
    patient_context = browser.new_context(viewport={"width": 360, "height": 740})
    for context in (staff_context, patient_context):
        context.set_default_timeout(STEP_TIMEOUT_MS)
    staff, patient_page = staff_context.new_page(), patient_context.new_page()

    admin_sign_in(staff, clinic_url("demo", "/admin/patients/patient/"), "admin")
    staff.get_by_role("link", name="Quick Add").click()
    staff.get_by_label("First name").fill("Maria")
    staff.get_by_label("Last name").fill("Silva")
    staff.get_by_label("Date of birth").fill("1961-04-09")
    staff.get_by_label("Activate portal").check()
    staff.get_by_label("By Email").check()
    staff.get_by_label("Email or mobile").fill("maria@example.com")
    staff.get_by_role("button", name="Save").click()
    staff.get_by_text("Portal registration sent to Silva, Maria").wait_for()
    assert "Invited by email" in staff.content()
    screenshot(staff, "invite-admin-patient")

    link = re.search(r"http://\S+/portal/invitation/\S+/", mail.outbox[-1].body).group(0)
    patient_page.goto(link)
    patient_page.get_by_role("heading", name="Activate portal").wait_for()
    patient_page.get_by_label("Date of birth").fill("1961-04-09")
    patient_page.get_by_role("button", name="Next").click()
    patient_page.get_by_label("With a password").check()
    patient_page.get_by_label(re.compile(r"^New password:?$")).fill("a long and private passphrase")
    patient_page.get_by_label("New password again").fill("a long and private passphrase")
    patient_page.get_by_label("I accept the clinic's portal terms").check()
    screenshot(patient_page, "invite-accept-phone")
    patient_page.get_by_role("button", name="Activate portal").click()
    patient_page.get_by_role("heading", name="Hello, Maria").wait_for()

    staff.reload()
    assert "Registered at" in staff.content()
    staff.get_by_role("link", name="Revoke Patient Portal Access").click()
    staff.get_by_role("button", name="Revoke Patient Portal Access").click()
    staff.get_by_text("Patient portal access revoked for Silva, Maria").wait_for()

    patient_page.get_by_role("link", name="Account").click()
    patient_page.get_by_role("heading", name="Identification").wait_for()
    assert "Hello, Maria" not in patient_page.content()
    assert "deactivated" in mail.outbox[-1].subject
    staff_context.close()
    patient_context.close()
