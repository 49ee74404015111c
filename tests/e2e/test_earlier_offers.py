"""A patient asks for an earlier time; another patient cancels; the first opens the offer
from the email, takes the time and sees it on the appointments page."""

import datetime as dt
import re

import pytest
from django.core import mail

from appointments.models import Appointment
from tests.e2e.browser import NOW, portal_session_in
from tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ClinicFactory,
    PatientAccessFactory,
    PatientFactory,
    ProviderFactory,
    portal_settings_of,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LINK = re.compile(r"http://\S+/portal/appointments/offer/[^/\s]+/")


def _local(day, hour):
    return dt.datetime.combine(day, dt.time(hour)).replace(tzinfo=NOW.tzinfo)


def test_a_patient_takes_an_earlier_time_another_gave_up(
    page, phone_page, clinic_url, screenshot, frozen
):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    portal_settings_of(
        clinic, booking_allowed=True, cancelling_allowed=True, earlier_offers_enabled=True
    )
    visit = AppointmentTypeFactory(clinic=clinic, name="Regular visit", duration_minutes=15)
    doctor = ProviderFactory(
        clinic=clinic,
        name="Dr Amara Osei",
        appointment_types=[visit],
        weekly_hours=(dt.time(9), dt.time(12), range(7)),
    )
    olivia = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Olivia", email="olivia@example.com")
    )
    noah = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Noah", email="noah@example.com")
    )
    tuesday, friday = NOW.date() + dt.timedelta(days=1), NOW.date() + dt.timedelta(days=4)
    for grant, start in ((olivia, _local(friday, 10)), (noah, _local(tuesday, 9))):
        AppointmentFactory(
            patient=grant.patient, provider=doctor, appointment_type=visit, start=start
        )

    # Olivia asks to be offered an earlier time.
    portal_session_in(page.context, clinic_url("demo", "/"), olivia.user, olivia.patient)
    page.goto(clinic_url("demo", "/portal/appointments/"))
    page.get_by_role("link", name="Offer me an earlier time if one frees up").click()
    page.get_by_role("button", name="Offer me an earlier time if one frees up").click()
    page.get_by_text("You will be offered an earlier time if one frees up.").first.wait_for()

    # Noah cancels his Tuesday visit, in his own browser.
    noahs = page.context.browser.new_context()
    portal_session_in(noahs, clinic_url("demo", "/"), noah.user, noah.patient)
    noah_page = noahs.new_page()
    noah_page.goto(clinic_url("demo", "/portal/appointments/"))
    noah_page.locator(".appointment-list").first.get_by_role("link", name="Cancel").click()
    noah_page.get_by_role("button", name="Cancel the appointment").click()
    noah_page.get_by_text("Your appointment is cancelled.").wait_for()
    noahs.close()

    [offer] = [m for m in mail.outbox if m.to == ["olivia@example.com"] and "earlier" in m.subject]
    link = LINK.search(offer.body).group(0)

    # On her phone first, then at her desk, where she takes it.
    portal_session_in(phone_page.context, clinic_url("demo", "/"), olivia.user, olivia.patient)
    phone_page.goto(link)
    phone_page.get_by_role("heading", name="An earlier time").wait_for()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(phone_page, "earlier-offer-360")
    page.goto(link)
    page.get_by_role("heading", name="An earlier time").wait_for()
    text = page.locator("main").inner_text()
    assert "Tuesday 15 January 2030, 9:00 AM" in text
    assert "Friday 18 January 2030, 10:00 AM" in text
    assert "Dr Amara Osei" in text
    screenshot(page, "earlier-offer-1280")
    page.get_by_role("button", name="Take the earlier time").click()

    page.get_by_text("Your appointment is moved to").wait_for()
    upcoming = page.locator(".appointment-list").first.inner_text()
    assert "Tuesday 15 January 2030" in upcoming
    assert "Friday 18 January 2030" not in upcoming
    booked = Appointment.objects.get(patient=olivia.patient, status=Appointment.Status.BOOKED)
    assert booked.start == _local(tuesday, 9)
