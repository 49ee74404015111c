"""A person signs in at their clinic's portal, clicking by the words on the screen."""

import pytest

from patients.models import Patient
from tests.factories import ClinicFactory, PatientFactory, PatientIdentifierFactory
from tests.patients.flows import last_code

pytestmark = pytest.mark.django_db(transaction=True)


def _identify_and_get_code(page, url, card, mobile, screenshot=None, prefix=""):
    page.goto(url)
    page.get_by_label("ID Type").select_option(label="Provincial health card")
    page.get_by_label("ID number").fill(card)
    if screenshot:
        screenshot(page, f"{prefix}1-identification")
    page.get_by_role("button", name="Apply").click()

    page.get_by_role("heading", name="Email or Phone").wait_for()
    page.get_by_label("Mobile", exact=True).check()
    page.get_by_label("Mobile number or email address").fill(mobile)
    page.get_by_role("button", name="Apply").click()

    page.get_by_role("heading", name="Check your details").wait_for()
    if screenshot:
        screenshot(page, f"{prefix}3-check")
    page.get_by_role("button", name="Next").click()

    page.get_by_role("heading", name="One time passcode").wait_for()
    assert "0111" in page.content() or "0199" in page.content()
    if screenshot:
        screenshot(page, f"{prefix}4-code")
    page.get_by_label("One time passcode").fill(last_code())
    page.get_by_role("button", name="Login").click()


def test_a_returning_patient_signs_in_with_id_mobile_and_code(page, clinic_url, screenshot):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    olivia = PatientFactory(clinic=clinic, first_name="Olivia", mobile="+16135550111")
    PatientIdentifierFactory(patient=olivia, number="1234567890")

    _identify_and_get_code(
        page, clinic_url("demo"), "1234 567 890", "613 555 0111", screenshot, "returning-"
    )

    page.get_by_role("heading", name="Hello, Olivia").wait_for()
    screenshot(page, "returning-6-home")
    page.get_by_role("link", name="Account").click()
    page.get_by_role("heading", name="Account", exact=True).wait_for()
    assert "(613) 555-0111" in page.content()
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.get_by_role("heading", name="Identification").wait_for()
    assert "You are signed out." in page.content()


def test_a_new_patient_registers_after_proving_their_mobile(phone_page, clinic_url, screenshot):
    ClinicFactory(slug="demo", name="Demo Family Clinic")
    page = phone_page

    _identify_and_get_code(
        page, clinic_url("demo"), "9876543210", "613 555 0199", screenshot, "new-phone-"
    )

    page.get_by_role("heading", name="Register").wait_for()
    assert page.get_by_label("Mobile").input_value() == "(613) 555-0199"
    page.get_by_label("Legal first name").fill("Ada")
    page.get_by_label("Legal last name").fill("Lovelace")
    page.get_by_label("Date of birth").fill("1950-12-10")
    page.get_by_label("Sex").select_option(label="Female")
    page.get_by_label("Street address").fill("12 Main Street")
    page.get_by_label("City").fill("Ottawa")
    page.get_by_label("Province or state").fill("ON")
    page.get_by_label("Postal code").fill("K1A 0B1")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("I accept the clinic's portal terms").check()
    screenshot(page, "new-phone-5-register")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("button", name="Register").click()

    page.get_by_role("heading", name="Hello, Ada").wait_for()
    assert "waiting for the clinic to verify" in page.content()
    screenshot(page, "new-phone-6-home")
    patient = Patient.objects.get(last_name="Lovelace")
    assert patient.status == Patient.Status.PENDING
    assert patient.self_registered
