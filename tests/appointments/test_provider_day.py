"""The front desk's provider day in the admin: free times and booked visits of one day
for one provider, each free time a link to the add form filled in; clinic-scoped and for
staff who may book."""

import datetime as dt
import re
from html import unescape

import pytest

from appointments.models import Appointment
from tests.appointments.schedule import NOW, TORONTO, admin_booking, local
from tests.clients import staff_client
from tests.factories import (
    AppointmentTypeFactory,
    PatientFactory,
    ProviderFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

DAY = "/admin/appointments/appointment/day/"
ADD = "/admin/appointments/appointment/add/"
TUESDAY = NOW.date() + dt.timedelta(days=1)


def _book_links(content):
    return [unescape(href) for href in re.findall(r'<a href="(/admin/[^"]*add/\?[^"]+)"', content)]


def test_it_lists_free_times_and_visits_of_the_day(
    front_desk, grant, provider, visit_type, visit_at, frozen
):
    booked = visit_at(local(TUESDAY, 9, 30))
    response = staff_client(front_desk).get(
        DAY, {"provider": provider.pk, "appointment_type": visit_type.pk, "day": TUESDAY}
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "Dr Osei, Tuesday 24 November 2026" in content
    assert f"/admin/appointments/appointment/{booked.pk}/change/" in content
    links = _book_links(content)
    assert len(links) == 12 - 1  # 9:00 to 11:45, but 9:30
    assert "9:30 AM–9:45 AM" in content
    assert "Book at 9:15 AM" in content and "Book at 9:30 AM" not in content
    assert f"?day={(TUESDAY + dt.timedelta(days=1)).isoformat()}" not in content
    assert f"day={(TUESDAY + dt.timedelta(days=1)).isoformat()}" in content
    assert f"day={(TUESDAY - dt.timedelta(days=1)).isoformat()}" in content


def test_a_free_time_opens_the_add_form_filled_in_and_books_through_the_service(
    front_desk, grant, provider, visit_type, booking_rules, frozen
):
    client = staff_client(front_desk)
    patient = grant.patient
    content = client.get(
        DAY, {"patient": patient.pk, "provider": provider.pk, "day": TUESDAY}
    ).content.decode()
    assert f"Booking for {patient}" in content
    link = next(link for link in _book_links(content) if "T15%3A15" in link)  # 10:15 Toronto
    form = client.get(link).context["adminform"].form
    assert form.initial["patient"] == str(patient.pk)
    assert form.initial["provider"] == str(provider.pk)
    assert form.initial["appointment_type"] == str(visit_type.pk)
    assert form.initial["start"] == local(TUESDAY, 10, 15)
    response = client.post(
        ADD, admin_booking(patient, provider, visit_type, local(TUESDAY, 10, 15))
    )
    assert response.status_code == 302
    booked = Appointment.objects.get()
    assert (booked.patient, booked.start, booked.booked_by) == (
        patient,
        local(TUESDAY, 10, 15),
        front_desk,
    )


def test_it_opens_on_today_with_the_first_provider_and_a_type_they_offer(
    front_desk, provider, visit_type, frozen
):
    AppointmentTypeFactory(clinic=provider.clinic, name="Aaa not offered")
    response = staff_client(front_desk).get(DAY)
    assert response.status_code == 200
    assert response.context["kind"] == visit_type
    assert "Dr Osei, Monday 23 November 2026" in response.content.decode()
    first = min(_book_links(response.content.decode()))
    assert "T14%3A00" in first  # 9:00 in Toronto, after the frozen 8:00


def test_a_type_the_provider_does_not_offer_is_said_so(front_desk, provider, frozen):
    other = AppointmentTypeFactory(clinic=provider.clinic, name="Vaccination")
    content = (
        staff_client(front_desk)
        .get(DAY, {"provider": provider.pk, "appointment_type": other.pk, "day": TUESDAY})
        .content.decode()
    )
    assert "Dr Osei does not offer Vaccination" in content
    assert not _book_links(content)


def test_another_clinics_provider_or_patient_is_refused(
    front_desk, provider, visit_type, other_clinic, frozen
):
    client = staff_client(front_desk)
    theirs = PatientFactory(clinic=other_clinic)
    response = client.get(DAY, {"provider": provider.pk, "patient": theirs.pk, "day": TUESDAY})
    assert "Booking for" not in response.content.decode()
    assert f"patient={theirs.pk}" not in response.content.decode()
    outsider = ProviderFactory(clinic=other_clinic, appointment_types=[])
    response = client.get(DAY, {"provider": outsider.pk, "day": TUESDAY})
    assert response.status_code == 200
    assert response.context["form"].errors["provider"]
    assert not _book_links(response.content.decode())


def test_staff_who_may_not_book_are_refused(clinic, provider, frozen):
    viewer = StaffFactory(clinic=clinic)
    viewer.groups.clear()
    assert staff_client(viewer).get(DAY).status_code == 403


def test_a_malformed_day_is_a_form_error_not_a_crash(front_desk, provider, frozen):
    for day in ("9999-12-31", "0001-01-01", "tuesday"):
        response = staff_client(front_desk).get(DAY, {"provider": provider.pk, "day": day})
        assert response.status_code == 200
        assert response.context["form"].errors["day"]


def test_the_patients_page_offers_book_a_visit(front_desk, grant, frozen):
    content = (
        staff_client(front_desk)
        .get(f"/admin/patients/patient/{grant.patient.pk}/change/")
        .content.decode()
    )
    assert f'href="{DAY}?patient={grant.patient.pk}"' in content
    assert "Book a visit" in content


def test_the_add_form_ignores_a_malformed_start(front_desk, frozen):
    for start in ("tomorrow", "2026-11-24T10:00:00", "9999-12-31T10:00:00+00:00"):
        response = staff_client(front_desk).get(ADD, {"start": start})
        assert response.status_code == 200
        assert "start" not in response.context["adminform"].form.initial


def test_it_runs_in_the_clinics_time_zone(front_desk, provider, visit_type, frozen):
    content = (
        staff_client(front_desk)
        .get(DAY, {"provider": provider.pk, "day": TUESDAY})
        .content.decode()
    )
    first = dt.datetime.fromisoformat(
        re.search(r"start=([^&\"]+)", unescape(min(_book_links(content))))
        .group(1)
        .replace("%3A", ":")
        .replace("%2B", "+")
    )
    assert first.astimezone(TORONTO) == local(TUESDAY, 9)
