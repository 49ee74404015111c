"""Staff write to a patient from the admin; the patient sees the unread count, opens the
thread and replies on a phone; staff find the reply in the admin inbox."""

import datetime

import pytest
from django.core import mail

from tests.e2e.browser import DESKTOP, PHONE, STEP_TIMEOUT_MS, admin_sign_in
from tests.factories import (
    TEST_PASSWORD,
    ClinicAdminFactory,
    ClinicFactory,
    PatientAccessFactory,
    PatientFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

SUBJECT = "Your blood test"
BODY = "Hello Maria,\nyour results are in. Please book a visit to go over them."
REPLY = "Thank you!\nI will book for next week."


def _both_widths(page, screenshot, name):
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        screenshot(page, f"messaging-{name}-{label}")


def test_staff_write_the_patient_reads_and_replies_and_staff_see_the_reply(
    browser, clinic_url, screenshot
):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    ClinicAdminFactory(clinic=clinic, username="admin", first_name="Carla", last_name="Admin")
    chart = PatientFactory(
        clinic=clinic,
        first_name="Maria",
        last_name="Silva",
        date_of_birth=datetime.date(1961, 4, 9),
        email="maria@example.com",
    )
    PatientAccessFactory(patient=chart, user__username="maria")

    staff_context = browser.new_context(viewport=DESKTOP)
    patient_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    for context in (staff_context, patient_context):
        context.set_default_timeout(STEP_TIMEOUT_MS)
    staff, patient = staff_context.new_page(), patient_context.new_page()

    # Staff start a thread from the admin.
    admin_sign_in(staff, clinic_url("demo", "/admin/messaging/thread/"), "admin")
    staff.get_by_role("link", name="Start a message").click()
    staff.get_by_label("Patient").select_option(label="Silva, Maria · 9 April 1961")
    staff.get_by_label("Category").select_option(label="General")
    staff.get_by_label("Subject").fill(SUBJECT)
    staff.get_by_label("Message").fill(BODY)
    screenshot(staff, "messaging-admin-start-desktop")
    staff.get_by_role("button", name="Send").click()
    staff.get_by_text("Message sent to Silva, Maria").wait_for()
    staff.get_by_text("not read by the patient yet").wait_for()

    [notice] = mail.outbox
    assert notice.to == ["maria@example.com"]
    assert "You have a new message from Demo Family Clinic. Sign in to read it." in notice.body
    assert SUBJECT not in notice.body and "results" not in notice.body

    # The patient signs in on a phone and sees the unread count.
    patient.goto(clinic_url("demo", "/portal/sign-in/password/"))
    patient.get_by_label("Email or Phone").fill("maria@example.com")
    patient.get_by_label("Password").fill(TEST_PASSWORD)
    patient.get_by_role("button", name="Login").click()
    patient.get_by_role("heading", name="Hello, Maria").wait_for()
    patient.get_by_text("You have 1 unread message.").wait_for()
    screenshot(patient, "messaging-home-phone")
    patient.get_by_role("link", name="Read and send messages").click()
    patient.get_by_role("heading", name="Messages", exact=True).wait_for()
    patient.get_by_text("1 new").wait_for()
    _both_widths(patient, screenshot, "portal-inbox")
    patient.set_viewport_size(PHONE)

    # Opens the thread: the text keeps its line breaks; replies.
    patient.get_by_role("link", name=SUBJECT).click()
    patient.get_by_role("heading", name=SUBJECT).wait_for()
    assert "your results are in" in patient.inner_text(".msg-body")
    assert "Hello Maria,\nyour results are in" in patient.inner_text(".msg-body")
    emergency = "For urgent matters call the clinic or emergency services."
    patient.locator(".msg-urgent").get_by_text(emergency).wait_for()
    patient.get_by_label("Your reply").fill(REPLY)
    _both_widths(patient, screenshot, "portal-thread")
    patient.set_viewport_size(PHONE)
    patient.get_by_role("button", name="Send reply").click()
    patient.get_by_text("Message sent.").wait_for()
    # Waits for the rendered reply rather than reading the page while it may still load.
    patient.get_by_text("I will book for next week.").first.wait_for()
    screenshot(patient, "messaging-portal-thread-replied-phone")
    patient.get_by_role("link", name="All messages").click()
    patient.get_by_text("You have no unread messages.").wait_for()
    patient.get_by_role("link", name="New message").click()
    patient.get_by_label("Subject").wait_for()
    screenshot(patient, "messaging-portal-new-phone")

    # Staff see the reply in the admin inbox.
    staff.goto(clinic_url("demo", "/admin/messaging/thread/"))
    row = staff.locator("#result_list tbody tr").filter(has_text=SUBJECT)
    assert row.locator("td.field-unread_display").inner_text() == "1"
    awaiting = staff.locator("#changelist-filter details").filter(has_text="By awaiting reply")
    awaiting.get_by_role("link", name="Yes").click()
    staff.wait_for_url("**/admin/messaging/thread/?awaiting=yes")
    staff.locator("#result_list").get_by_text(SUBJECT).wait_for()
    _both_widths(staff, screenshot, "admin-inbox")
    staff.set_viewport_size(DESKTOP)
    staff.get_by_role("link", name=SUBJECT).click()
    staff.get_by_text("I will book for next week.").wait_for()
    assert "Maria Silva" in staff.content()
    staff.get_by_role("button", name="Mark handled").wait_for()
    _both_widths(staff, screenshot, "admin-thread")
    staff.set_viewport_size(DESKTOP)
    staff.get_by_role("button", name="Mark handled").click()
    staff.get_by_text("Marked handled.").wait_for()

    staff_context.close()
    patient_context.close()
