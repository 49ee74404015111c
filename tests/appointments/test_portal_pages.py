import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from appointments.models import Appointment
from tests.appointments.schedule import NOW, confirmed_booking, local
from tests.clients import portal_client, staff_client
from tests.factories import AppointmentFactory, PatientAccessFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

TUESDAY = NOW.date() + dt.timedelta(days=1)


def _visits(grant, provider, visit_type, count, first_day=dt.date(2025, 1, 6)):
    """``count`` 15-minute visits, four an hour from 9:00, eight a day (one bulk insert)."""
    rows = []
    for i in range(count):
        start = local(first_day + dt.timedelta(days=i // 8), 9 + (i % 8) // 4, 15 * (i % 4))
        rows.append(
            AppointmentFactory.build(
                patient=grant.patient,
                provider=provider,
                appointment_type=visit_type,
                start=start,
                status=Appointment.Status.COMPLETED if start < NOW else Appointment.Status.BOOKED,
            )
        )
    Appointment.objects.bulk_create(rows)


def _query_count(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", ["/portal/appointments/", "/portal/"])
def test_the_pages_run_a_fixed_number_of_queries_with_1_and_1000_visits(
    grant, provider, visit_type, booking_rules, frozen, url, django_assert_num_queries
):
    """Counted with the shared cache emptied first (its entries are the pages' own: the
    lists and the home figures), so the count is the pages' queries, not the cache's."""
    client = portal_client(grant.user, grant.patient)
    _visits(grant, provider, visit_type, 1)
    client.get(url)  # warm per-process caches (tenant look-up) so both counts compare alike
    cache.clear()
    one = _query_count(client, url)
    _visits(grant, provider, visit_type, 979, first_day=dt.date(2025, 6, 2))
    _visits(grant, provider, visit_type, 20, first_day=dt.date(2026, 12, 1))
    cache.clear()
    with django_assert_num_queries(one):
        response = client.get(url)
    assert response.status_code == 200
    assert one <= 12


def test_the_appointments_page_reads_no_visit_from_the_database_while_cached(
    grant, provider, visit_type, booking_rules, frozen
):
    _visits(grant, provider, visit_type, 1000)
    client = portal_client(grant.user, grant.patient)
    first = client.get("/portal/appointments/").content.decode()
    with CaptureQueriesContext(connection) as queries:
        again = client.get("/portal/appointments/").content.decode()
    lists = again[again.index("<h2>Upcoming</h2>") : again.index("</main>")]
    assert lists == first[first.index("<h2>Upcoming</h2>") : first.index("</main>")]
    assert lists.count('class="card"') == 20 and "Page 1 of 50" in lists
    assert not [q for q in queries.captured_queries if '"appointments_appointment"' in q["sql"]]


def test_the_list_shows_upcoming_and_paginates_the_past(
    grant, provider, visit_type, booking_rules, frozen
):
    _visits(grant, provider, visit_type, 45)
    _visits(grant, provider, visit_type, 2, first_day=TUESDAY)
    content = portal_client(grant.user, grant.patient).get("/portal/appointments/").content.decode()
    upcoming, past = content.split("<h2>Past</h2>")
    assert upcoming.count('class="card"') == 2
    assert past.count('class="card"') == 20
    assert "Page 1 of 3" in past


def test_another_patients_appointment_is_a_404_by_id_in_lists_and_actions(
    grant, visit_at, booking_rules, frozen
):
    other = PatientAccessFactory(patient=PatientFactory(clinic=grant.clinic, first_name="Other"))
    theirs = visit_at(local(TUESDAY, 9), patient=other.patient)
    client = portal_client(grant.user, grant.patient)
    assert client.get(f"/portal/appointments/{theirs.pk}/cancel/").status_code == 404
    assert client.post(f"/portal/appointments/{theirs.pk}/cancel/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Appointment.Status.BOOKED
    listing = client.get("/portal/appointments/").content.decode()
    assert f"/appointments/{theirs.pk}/" not in listing
    assert "You have no upcoming appointments." in listing


def test_an_outsider_from_another_clinic_gets_a_404(visit_at, booking_rules, frozen, other_clinic):
    ours = visit_at(local(TUESDAY, 9))
    outsider = PatientAccessFactory(patient=PatientFactory(clinic=other_clinic))
    client = portal_client(outsider.user, outsider.patient)
    assert client.get(f"/portal/appointments/{ours.pk}/cancel/").status_code == 404


def test_booking_through_the_pages(grant, provider, visit_type, booking_rules, frozen):
    client = portal_client(grant.user, grant.patient)
    page = client.get("/portal/appointments/book/", {"appointment_type": visit_type.pk})
    slots = re.findall(r'name="slot" value="([^"]+)"', page.content.decode())
    assert len(slots) == 12 * 5  # a week of mornings from Tuesday
    confirm = client.post(
        "/portal/appointments/book/confirm/",
        {"appointment_type": visit_type.pk, "slot": slots[0]},
    )
    assert "Confirm your appointment" in confirm.content.decode()
    provider_id, start = slots[0].split("|")
    data = {
        "appointment_type": visit_type.pk,
        "provider": provider_id,
        "start": start,
        "reason": "check-up",
        "confirm": "1",
    }
    assert client.post("/portal/appointments/book/confirm/", data)["Location"] == (
        "/portal/appointments/"
    )
    again = client.post("/portal/appointments/book/confirm/", data, follow=True)
    assert "That time was just taken, pick another." in again.content.decode()
    assert Appointment.objects.count() == 1


def test_booking_and_cancelling_are_refused_when_the_clinic_disallows_them(
    grant, provider, visit_type, visit_at, booking_rules, frozen
):
    appointment = visit_at(local(TUESDAY, 11))
    booking_rules.booking_allowed = False
    booking_rules.cancelling_allowed = False
    booking_rules.save()
    client = portal_client(grant.user, grant.patient)
    listing = client.get("/portal/appointments/").content.decode()
    assert "Book an appointment" not in listing
    assert "/cancel/" not in listing
    refused = client.get("/portal/appointments/book/").content.decode()
    assert "does not take bookings in the portal" in refused
    forged = client.post(
        "/portal/appointments/book/confirm/",
        confirmed_booking(provider, visit_type, local(TUESDAY, 9)),
        follow=True,
    )
    assert "does not take bookings" in forged.content.decode()
    assert client.post(f"/portal/appointments/{appointment.pk}/cancel/").status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED
    assert Appointment.objects.count() == 1


def test_after_the_cutoff_the_page_says_to_call_the_clinic(grant, visit_at, booking_rules, frozen):
    appointment = visit_at(local(TUESDAY, 9))
    frozen.move_to(local(TUESDAY, 9) - dt.timedelta(hours=2))
    response = portal_client(grant.user, grant.patient).post(
        f"/portal/appointments/{appointment.pk}/cancel/"
    )
    assert response.status_code == 403
    assert "too late to cancel in the portal. Please call the clinic." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED


def test_a_representative_without_the_appointments_scope_cannot_book_or_see(
    grant, provider, visit_type, booking_rules, frozen
):
    parent = UserFactory(clinic=grant.clinic)
    PatientAccessFactory(
        user=parent, patient=grant.patient, relationship="carer", can_appointments=False
    )
    client = portal_client(parent, grant.patient)
    for url in ("/portal/appointments/", "/portal/appointments/book/"):
        response = client.get(url)
        assert response.status_code == 403
        assert "Not part of your access" in response.content.decode()
    forged = client.post(
        "/portal/appointments/book/confirm/",
        confirmed_booking(provider, visit_type, local(TUESDAY, 9)),
    )
    assert forged.status_code == 403
    assert not Appointment.objects.exists()


def test_a_representative_with_the_scope_books_for_the_patient(
    grant, provider, visit_type, booking_rules, frozen
):
    parent = UserFactory(clinic=grant.clinic)
    PatientAccessFactory(user=parent, patient=grant.patient, relationship="carer")
    client = portal_client(parent, grant.patient)
    response = client.post(
        "/portal/appointments/book/confirm/",
        confirmed_booking(provider, visit_type, local(TUESDAY, 9)),
    )
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.patient == grant.patient
    assert appointment.booked_by == parent


def test_staff_see_only_their_clinics_appointments(visit_at, front_desk, outsider_staff):
    ours = visit_at(local(TUESDAY, 9))
    outsider = staff_client(outsider_staff)
    assert outsider.get(f"/admin/appointments/appointment/{ours.pk}/change/").status_code == 404
    listing = outsider.get("/admin/appointments/appointment/")
    assert list(listing.context["cl"].result_list) == []
    ours_listing = staff_client(front_desk).get("/admin/appointments/appointment/")
    assert list(ours_listing.context["cl"].result_list) == [ours]


def test_staff_cancel_and_mark_outcomes_from_the_admin(visit_at, front_desk):
    rows = [visit_at(local(TUESDAY, 9, 15 * i)) for i in range(3)]
    client = staff_client(front_desk)
    for action, row in zip(("cancel", "mark_completed", "mark_no_show"), rows, strict=True):
        client.post(
            "/admin/appointments/appointment/",
            {"action": action, "_selected_action": [row.pk]},
        )
    statuses = [Appointment.objects.get(pk=r.pk).status for r in rows]
    assert statuses == ["cancelled", "completed", "no_show"]


def test_a_cancelled_visit_is_listed_under_cancelled_never_under_past(
    grant, provider, visit_type, visit_at, booking_rules, frozen
):
    visit_at(local(TUESDAY, 9))
    visit_at(local(TUESDAY, 10), status=Appointment.Status.CANCELLED)  # a future one
    visit_at(local(NOW.date() - dt.timedelta(days=7), 9), status=Appointment.Status.CANCELLED)
    visit_at(local(NOW.date() - dt.timedelta(days=7), 11), status=Appointment.Status.COMPLETED)
    content = portal_client(grant.user, grant.patient).get("/portal/appointments/").content.decode()
    upcoming, rest = content.split("<h2>Past</h2>")
    past, cancelled = rest.split('<h2 id="cancelled">Cancelled</h2>')
    assert upcoming.count('class="card"') == 1 and "10:00 AM" not in upcoming
    assert past.count('class="card"') == 1 and "Completed" in past and "Cancelled" not in past
    assert cancelled.count('class="card"') == 2
    assert cancelled.index("Tuesday 24 November") < cancelled.index("Monday 16 November")
