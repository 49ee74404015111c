"""A clinic that has patients request appointments: a patient asks for a visit, the front
desk books a time for it in the admin, and the patient sees the visit."""

import datetime as dt

import pytest

from appointments.models import Appointment, AppointmentRequest
from tests.e2e.browser import DESKTOP, PHONE, admin_sign_in, portal_session_in
from tests.factories import (
    AppointmentTypeFactory,
    ClinicFactory,
    PatientAccessFactory,
    PatientFactory,
    ProviderFactory,
    StaffFactory,
    portal_settings_of,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _fits_the_width(page, width):
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_patient_requests_a_visit_and_the_front_desk_books_it(
    page, clinic_url, screenshot, frozen
):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    portal_settings_of(clinic, booking_allowed=False, appointment_requests=True)
    visit = AppointmentTypeFactory(clinic=clinic, name="Regular visit", duration_minutes=15)
    doctor = ProviderFactory(
        clinic=clinic,
        name="Dr Amara Osei",
        appointment_types=[visit],
        weekly_hours=(dt.time(9), dt.time(12)),
    )
    grant = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Olivia", last_name="Tremblay")
    )
    portal_session_in(page.context, clinic_url("demo", "/"), grant.user, grant.patient)

    page.goto(clinic_url("demo", "/portal/appointments/"))
    assert page.get_by_role("link", name="Book an appointment").count() == 0
    page.get_by_role("link", name="Request an appointment").click()
    page.get_by_label("Type of appointment").select_option(label="Regular visit")
    page.get_by_label("Provider").select_option(label="Dr Amara Osei")
    page.get_by_label("Tuesday").check()
    page.get_by_label("Morning (before noon)").check()
    page.get_by_label("Note for the front desk (optional)").fill("Not before 10, please")
    screenshot(page, "appointment-request-form")
    page.set_viewport_size(PHONE)
    screenshot(page, "appointment-request-form-phone")
    assert _fits_the_width(page, PHONE["width"])
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Send the request").click()
    page.get_by_text("Your request is sent.").wait_for()
    assert "Waiting for the clinic" in page.locator("main").inner_text()

    staff = page.context.browser.new_context(viewport=DESKTOP)
    desk = staff.new_page()
    StaffFactory(clinic=clinic, username="frontdesk")
    admin_sign_in(desk, clinic_url("demo", "/admin/appointments/appointmentrequest/"), "frontdesk")
    desk.locator("#result_list tbody th a").first.click()
    # Opens on the first day that suits the patient: Tuesday.
    desk.get_by_role("heading", name="Dr Amara Osei, Tuesday 15 January 2030").wait_for()
    screenshot(desk, "appointment-request-admin")
    desk.set_viewport_size(PHONE)
    screenshot(desk, "appointment-request-admin-phone")
    assert _fits_the_width(desk, PHONE["width"])
    desk.set_viewport_size(DESKTOP)
    desk.get_by_role("button", name="10:15 AM").click()
    desk.get_by_text("Booked Tremblay, Olivia with Dr Amara Osei").wait_for()
    booked = Appointment.objects.get()
    assert (booked.patient, booked.provider) == (grant.patient, doctor)
    assert booked.start.astimezone(clinic.tz) == dt.datetime(2030, 1, 15, 10, 15, tzinfo=clinic.tz)
    assert AppointmentRequest.objects.get().status == AppointmentRequest.Status.CONFIRMED
    staff.close()

    page.goto(clinic_url("demo", "/portal/appointments/"))
    main = page.locator("main").inner_text()
    assert "10:15 AM" in main and "Dr Amara Osei" in main
    assert "Booked" in main
