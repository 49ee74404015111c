"""A front-desk member sets up their authenticator at first sign-in, on a phone, with
JavaScript off, then signs in again with a backup code."""

import base64

import pytest
from django_otp.oath import TOTP

from tests.e2e.browser import PHONE, STEP_TIMEOUT_MS, admin_sign_in
from tests.factories import TEST_PASSWORD, ClinicFactory, StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _code_for(secret):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{TOTP(key).token():06d}"


def test_set_up_the_authenticator_then_sign_in_with_a_backup_code(
    browser, clinic_url, settings, screenshot
):
    settings.PORTAL_STAFF_OTP_REQUIRED = True
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    StaffFactory(clinic=clinic, username="frontdesk")
    context = browser.new_context(viewport=PHONE, is_mobile=True, java_script_enabled=False)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()

    admin_sign_in(page, clinic_url("demo", "/admin/"), "frontdesk")
    page.get_by_role("heading", name="Set up your authenticator app").wait_for()
    assert page.locator("svg title", has_text="QR code").count() == 1
    secret = page.locator("code").first.inner_text()
    page.get_by_label("Code from the app").fill(_code_for(secret))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Your backup codes").wait_for()
    codes = page.locator("ul.staff-backup-codes code").all_inner_texts()
    assert len(codes) == 10
    screenshot(page, "staff-backup-codes-phone")
    page.get_by_role("link", name="Done").click()
    page.get_by_role("heading", name="Your sign-in").wait_for()
    page.get_by_role("button", name="Log out").click()

    page.goto(clinic_url("demo", "/admin/"))
    page.get_by_label("Username").fill("frontdesk")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_label("backup code").fill(codes[0])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Your sign-in").wait_for()
    assert "9 unused backup codes" in page.goto(clinic_url("demo", "/admin/account/")).text()
    context.close()
