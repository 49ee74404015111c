"""A patient picks a type and provider, moves to next week, books a time, sees it under
Upcoming and cancels it; the front desk books from a provider's day."""

import datetime as dt

import pytest

from appointments.models import Appointment
from tests.e2e.browser import PHONE, admin_sign_in, portal_session_in
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


def _clinic():
    """Demo Family Clinic: Dr Amara Osei sees regular visits every day, 9:00–12:00; Dr Ben
    Roy weekdays 13:00–16:00."""
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    portal_settings_of(clinic, booking_allowed=True, cancelling_allowed=True)
    visit = AppointmentTypeFactory(clinic=clinic, name="Regular visit", duration_minutes=15)
    doctor = ProviderFactory(
        clinic=clinic,
        name="Dr Amara Osei",
        appointment_types=[visit],
        weekly_hours=(dt.time(9), dt.time(12), range(7)),
    )
    ProviderFactory(
        clinic=clinic,
        name="Dr Ben Roy",
        appointment_types=[visit],
        weekly_hours=(dt.time(13), dt.time(16)),
    )
    return clinic, visit, doctor


def _fits_the_width(page, width):
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_patient_books_sees_and_cancels_an_appointment(page, clinic_url, screenshot, frozen):
    clinic, _visit, _doctor = _clinic()
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Olivia"))
    portal_session_in(page.context, clinic_url("demo", "/"), grant.user, grant.patient)

    page.goto(clinic_url("demo", "/portal/appointments/"))
    page.get_by_role("link", name="Book an appointment").click()
    page.get_by_label("Type of appointment").select_option(label="Regular visit")
    page.get_by_label("Provider").select_option(label="Dr Amara Osei")
    page.get_by_role("button", name="Show free times").click()
    page.get_by_role("heading", name="Week of Monday 14 January").wait_for()
    page.get_by_role("link", name="Next week").click()
    page.get_by_role("heading", name="Week of Monday 21 January").wait_for()
    screenshot(page, "appointments-slots")
    page.get_by_role("group", name="Tuesday 22 January").get_by_role(
        "button", name="9:30 AM"
    ).click()
    page.get_by_role("heading", name="Confirm your appointment").wait_for()
    assert "Tuesday 22 January 2030, 9:30 AM" in page.content()
    page.get_by_label("Reason for visit").fill("Blood pressure check")
    page.get_by_role("button", name="Book").click()

    page.get_by_text("Your appointment is booked.").wait_for()
    upcoming = page.locator(".appointment-list").first
    assert "9:30 AM" in upcoming.inner_text()
    assert "Dr Amara Osei" in upcoming.inner_text()
    screenshot(page, "appointments-list")

    upcoming.get_by_role("link", name="Cancel").click()
    page.get_by_role("button", name="Cancel the appointment").click()
    page.get_by_text("Your appointment is cancelled.").wait_for()
    assert "You have no upcoming appointments." in page.content()
    assert Appointment.objects.get().status == Appointment.Status.CANCELLED


def test_the_week_of_free_times_stays_short_on_a_phone(phone_page, clinic_url, screenshot, frozen):
    clinic, visit, _doctor = _clinic()
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Olivia"))
    portal_session_in(phone_page.context, clinic_url("demo", "/"), grant.user, grant.patient)
    phone_page.goto(clinic_url("demo", f"/portal/appointments/book/?appointment_type={visit.pk}"))
    phone_page.get_by_role("heading", name="Week of Monday 14 January").wait_for()
    screenshot(phone_page, "appointments-week-phone")
    assert _fits_the_width(phone_page, PHONE["width"])
    # Two doctors' mornings and afternoons, a week of them (144 times): at least three
    # times to a row, the week within six screens.
    first_row = [phone_page.locator("button.slot").nth(i).bounding_box()["y"] for i in range(3)]
    assert len(set(first_row)) == 1
    assert phone_page.evaluate("document.documentElement.scrollHeight") < 6 * PHONE["height"]
    assert phone_page.locator("button.slot").count() == 7 * 12 + 5 * 12


def test_the_front_desk_books_from_a_providers_day(page, clinic_url, screenshot, frozen):
    clinic, visit, doctor = _clinic()
    patient = PatientFactory(clinic=clinic, first_name="Olivia", last_name="Tremblay")
    StaffFactory(clinic=clinic, username="frontdesk")
    admin_sign_in(
        page, clinic_url("demo", f"/admin/patients/patient/{patient.pk}/change/"), "frontdesk"
    )
    page.get_by_role("link", name="Book a visit").click()
    page.get_by_text(f"Booking for {patient}").wait_for()
    page.get_by_role("heading", name="Dr Amara Osei, Monday 14 January 2030").wait_for()
    page.get_by_role("link", name="Next day").click()
    page.get_by_role("heading", name="Dr Amara Osei, Tuesday 15 January 2030").wait_for()
    screenshot(page, "providers-day")
    page.get_by_role("link", name="Book at 10:15 AM").click()
    assert page.locator("#id_start_0").input_value() == "2030-01-15"
    assert page.locator("#id_start_1").input_value() == "10:15"
    page.get_by_label("Reason for visit").fill("Follow-up")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    booked = Appointment.objects.get()
    assert (booked.patient, booked.provider, booked.appointment_type) == (patient, doctor, visit)
    assert booked.start.astimezone(clinic.tz) == dt.datetime(2030, 1, 15, 10, 15, tzinfo=clinic.tz)
    page.goto(
        clinic_url(
            "demo", f"/admin/appointments/appointment/day/?provider={doctor.pk}&day=2030-01-15"
        )
    )
    assert str(patient) in page.locator("#provider-day").inner_text()
    page.set_viewport_size(PHONE)
    screenshot(page, "providers-day-phone")
    assert _fits_the_width(page, PHONE["width"])
