"""A patient books a slot, sees it under Upcoming, and cancels it."""

import datetime as dt

import pytest

from appointments.models import Appointment, AppointmentType, Provider, WeeklyAvailability
from tests.conftest import portal_client
from tests.factories import ClinicFactory, PatientAccessFactory, PatientFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_patient_books_sees_and_cancels_an_appointment(page, clinic_url, screenshot):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    policy = clinic.portal_settings
    policy.booking_allowed = policy.cancelling_allowed = True
    policy.save()
    visit = AppointmentType.objects.create(clinic=clinic, name="Regular visit", duration_minutes=15)
    doctor = Provider.objects.create(clinic=clinic, name="Dr Amara Osei")
    doctor.appointment_types.add(visit)
    for weekday in range(7):
        WeeklyAvailability.objects.create(
            clinic=clinic,
            provider=doctor,
            weekday=weekday,
            start_time=dt.time(9),
            end_time=dt.time(12),
        )
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Olivia"))
    session = portal_client(grant.user, grant.patient).cookies["sessionid"].value
    page.context.add_cookies(
        [{"name": "sessionid", "value": session, "url": clinic_url("demo", "/")}]
    )

    page.goto(clinic_url("demo", "/portal/appointments/"))
    page.get_by_role("link", name="Book an appointment").click()
    page.get_by_label("Type of appointment").select_option(label="Regular visit")
    page.get_by_role("button", name="Show free times").click()
    screenshot(page, "appointments-slots")
    page.get_by_role("button", name="9:30 a.m.").first.click()
    page.get_by_role("heading", name="Confirm your appointment").wait_for()
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
