"""An operator opens a new clinic and invites its first clinic admin, who follows the
emailed link on a phone with JavaScript off, chooses a password, sets up an
authenticator and reaches the clinic's admin."""

import base64
import re

import pytest
from django.core import mail
from django_otp.oath import TOTP

from tests.e2e.browser import DESKTOP, PHONE, STEP_TIMEOUT_MS, admin_sign_in
from tests.factories import UserFactory
from tests.portal.outbox import staff_invitation_link

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long and private passphrase"


def _code_for(secret):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{TOTP(key).token():06d}"


def test_an_operator_opens_a_clinic_and_its_first_admin_joins(
    browser, clinic_url, live_server, screenshot
):
    UserFactory(clinic=None, username="operator", is_staff=True, is_superuser=True)
    operators = f"http://localhost:{live_server.thread.port}/admin/"
    staff_context = browser.new_context(viewport=DESKTOP)
    staff_context.set_default_timeout(STEP_TIMEOUT_MS)
    operator = staff_context.new_page()

    admin_sign_in(operator, f"{operators}clinics/clinic/add/", "operator")
    operator.get_by_label("Subdomain").fill("lakeside")
    operator.get_by_label(re.compile(r"^Name:?$")).fill("Lakeside Family Clinic")
    operator.get_by_role("button", name="Save", exact=True).click()
    operator.get_by_text("was added successfully").wait_for()

    operator.get_by_role("link", name="Invite a clinic admin").click()
    assert operator.get_by_label("Clinic").evaluate("s => s.selectedOptions[0].text") == (
        "Lakeside Family Clinic"
    )
    operator.get_by_label("Email").fill("nadia@example.com")
    operator.get_by_label("Username").fill("nadia")
    operator.get_by_label("First name").fill("Nadia")
    operator.get_by_label("Last name").fill("Okafor")
    screenshot(operator, "staff-invite-operator-desktop")
    operator.get_by_role("button", name="Save", exact=True).click()
    operator.get_by_text("Invitation sent to nadia@example.com").wait_for()
    assert "Waiting to be used" in operator.content()
    screenshot(operator, "staff-invitations-operator-desktop")

    link = staff_invitation_link(mail.outbox)
    assert link.startswith(clinic_url("lakeside", "/admin/account/invitation/"))
    phone_context = browser.new_context(viewport=PHONE, is_mobile=True, java_script_enabled=False)
    phone_context.set_default_timeout(STEP_TIMEOUT_MS)
    page = phone_context.new_page()
    page.goto(link)
    page.get_by_role("heading", name="Choose your password").wait_for()
    assert "nadia" in page.get_by_role("main").inner_text()
    page.get_by_label(re.compile(r"^New password:?$")).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    screenshot(page, "staff-invitation-accept-phone")
    page.get_by_role("button", name="Set my password").click()

    page.get_by_text("Your password is set").wait_for()
    page.get_by_label("Username").fill("nadia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Set up your authenticator app").wait_for()
    screenshot(page, "staff-invitation-enrol-phone")
    page.goto(clinic_url("lakeside", "/admin/patients/patient/"))
    page.get_by_role("heading", name="Set up your authenticator app").wait_for()

    secret = page.locator("code").first.inner_text()
    page.get_by_label("Code from the app").fill(_code_for(secret))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Your backup codes").wait_for()
    page.goto(clinic_url("lakeside", "/admin/"))
    page.get_by_role("heading", name="Clinic administration").wait_for()
    assert page.get_by_role("link", name="Staff invitations").count() == 1
    screenshot(page, "staff-invitation-admin-index-phone")
    page.set_viewport_size(DESKTOP)
    screenshot(page, "staff-invitation-admin-index-desktop")
    staff_context.close()
    phone_context.close()
