"""A patient picks a type and provider, moves to next week, books a time, sees it under
Upcoming and cancels it; the front desk books from a provider's day."""

import datetime as dt

import pytest

from appointments.models import Appointment
from tests.e2e.browser import portal_session_in
from tests.factories import (
    AppointmentTypeFactory,
    ClinicFactory,
    PatientAccessFactory,
    PatientFactory,
    ProviderFactory,
    portal_settings_of,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_patient_books_sees_and_cancels_an_appointment(page, clinic_url, screenshot, frozen):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    portal_settings_of(clinic, booking_allowed=True, cancelling_allowed=True)
    visit = AppointmentTypeFactory(clinic=clinic, name="Regular visit", duration_minutes=15)
    # Every day of the week, 9:00–12:00.
    ProviderFactory(
        clinic=clinic,
        name="Dr Amara Osei",
        appointment_types=[visit],
        weekly_hours=(dt.time(9), dt.time(12), range(7)),
    )
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
        "button", name="9:30 a.m."
    ).click()
    page.get_by_role("heading", name="Confirm your appointment").wait_for()
    assert "Tuesday 22 January 2030, 9:30 a.m." in page.content()
    page.get_by_label("Reason for visit").fill("Blood pressure check")
    page.get_by_role("button", name="Book").click()

    page.get_by_text("Your appointment is booked.").wait_for()
    upcoming = page.locator(".appointment-list").first
    assert "9:30 a.m." in upcoming.inner_text()
    assert "Dr Amara Osei" in upcoming.inner_text()
    screenshot(page, "appointments-list")

    upcoming.get_by_role("link", name="Cancel").click()
    page.get_by_role("button", name="Cancel the appointment").click()
    page.get_by_text("Your appointment is cancelled.").wait_for()
    assert "You have no upcoming appointments." in page.content()
    assert Appointment.objects.get().status == Appointment.Status.CANCELLED
