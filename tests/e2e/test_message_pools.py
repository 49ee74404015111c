"""A patient writes about a prescription: the nurses' pool gets it, the patient is told
when to expect an answer, sees "Not read yet", then "Read by the clinic", then
"Answered"; the nurse finds it first in the admin inbox and filters by pool."""

import datetime

import pytest

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    STEP_TIMEOUT_MS,
    admin_sign_in,
    portal_session_in,
)
from tests.factories import (
    ClinicAdminFactory,
    ClinicFactory,
    PatientAccessFactory,
    PatientFactory,
    PoolFactory,
    portal_settings_of,
)
from tests.messaging.threads import start_thread

pytestmark = pytest.mark.django_db(transaction=True)


def _both_widths(page, screenshot, name):
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        screenshot(page, f"pools-{name}-{label}")


def test_a_patient_is_told_when_to_expect_an_answer_and_sees_where_the_clinic_is(
    browser, clinic_url, screenshot, frozen
):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    portal_settings_of(clinic, message_reply_working_days=3)
    nurse = ClinicAdminFactory(clinic=clinic, username="nina", first_name="Nina", last_name="Nurse")
    PoolFactory(
        clinic=clinic,
        name="Nurses",
        members=[nurse],
        categories=["prescription_refill"],
        reply_working_days=2,
    )
    PoolFactory(clinic=clinic, name="Billing", categories=["billing_question"])
    chart = PatientFactory(
        clinic=clinic,
        first_name="Maria",
        last_name="Silva",
        date_of_birth=datetime.date(1961, 4, 9),
    )
    maria = PatientAccessFactory(patient=chart, user__username="maria").user
    bob = PatientFactory(clinic=clinic, first_name="Bob", last_name="Brown")
    start_thread(nurse, bob, subject="Your invoice", category="billing_question")

    patient_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    staff_context = browser.new_context(viewport=DESKTOP)
    for context in (staff_context, patient_context):
        context.set_default_timeout(STEP_TIMEOUT_MS)
    portal_session_in(patient_context, clinic_url("demo"), maria)
    patient, staff = patient_context.new_page(), staff_context.new_page()

    patient.goto(clinic_url("demo", "/portal/messages/new/"))
    patient.get_by_label("Category").select_option(label="Prescription refill")
    patient.get_by_label("Subject").fill("Inhaler renewal")
    patient.get_by_label("Message").fill("My inhaler runs out next week.")
    patient.get_by_role("button", name="Send", exact=True).click()
    patient.get_by_text("Message sent.").wait_for()
    patient.get_by_text("You can expect an answer within 2 working days.").wait_for()
    patient.locator(".marker-sent").get_by_text("Not read yet").wait_for()
    patient.locator(".marker-automatic").get_by_text("Automatic reply").wait_for()

    admin_sign_in(staff, clinic_url("demo", "/admin/messaging/thread/"), "nina")
    first_row = staff.locator("#result_list tbody tr").first
    assert "Inhaler renewal" in first_row.inner_text() and "Nurses" in first_row.inner_text()
    staff.locator("#changelist-filter").get_by_role("link", name="My pools").click()
    staff.wait_for_url("**/admin/messaging/thread/?pool=mine")
    assert "Your invoice" not in staff.locator("#result_list").inner_text()
    _both_widths(staff, screenshot, "admin-inbox")
    staff.set_viewport_size(DESKTOP)
    staff.get_by_role("link", name="Inhaler renewal").click()
    staff.get_by_text("My inhaler runs out next week.").wait_for()
    _both_widths(staff, screenshot, "admin-thread")
    staff.set_viewport_size(DESKTOP)

    patient.reload()
    patient.locator(".marker-read").get_by_text("Read by the clinic").wait_for()
    staff.get_by_label("Reply").fill("Your renewal is ready at the pharmacy.")
    staff.get_by_role("button", name="Send reply").click()
    staff.get_by_text("Reply sent.").wait_for()

    patient.reload()
    patient.locator(".marker-answered").get_by_text("Answered").wait_for()
    patient.get_by_text("Your renewal is ready at the pharmacy.").wait_for()
    _both_widths(patient, screenshot, "portal-thread")
    patient.goto(clinic_url("demo", "/portal/messages/"))
    patient.locator(".marker-answered").get_by_text("Answered").wait_for()
    _both_widths(patient, screenshot, "portal-inbox")

    staff_context.close()
    patient_context.close()
