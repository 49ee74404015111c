"""One set of booking rules for every caller: a forged POST to the portal meets the same
checks as the booking page, and the front desk meets them in the admin unless they book
over a conflict on purpose (named, and audited)."""

import datetime as dt
import re
import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connection, connections

from appointments import services
from appointments.models import Appointment
from portal.audit.models import AuditEvent
from tests.appointments.schedule import NOW, admin_booking, confirmed_booking, local
from tests.clients import portal_client, staff_client
from tests.factories import AppointmentTypeFactory, PatientFactory, portal_settings_of

pytestmark = pytest.mark.django_db

TUESDAY = NOW.date() + dt.timedelta(days=1)
SUNDAY = NOW.date() + dt.timedelta(days=6)
ADD = "/admin/appointments/appointment/add/"


def _portal_post(grant, provider, visit_type, start):
    """The page's answer (after the redirect) to a booking POSTed straight at it."""
    client = portal_client(grant.user, grant.patient)
    response = client.post(
        "/portal/appointments/book/confirm/",
        confirmed_booking(provider, visit_type, start),
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


# --- The portal ---------------------------------------------------------------------------


def test_a_patient_cannot_hold_two_visits_at_once_even_with_two_providers(
    grant, provider, colleague, visit_type, visit_at, booking_rules, frozen
):
    visit_at(local(TUESDAY, 10))
    page = _portal_post(grant, colleague, visit_type, local(TUESDAY, 10, 0))
    assert "You already have an appointment at that time." in page
    # A visit that starts inside the other one is refused too; an adjacent one is not.
    page = _portal_post(grant, colleague, visit_type, local(TUESDAY, 9, 45))
    assert "Your appointment is booked." in page
    assert Appointment.objects.filter(provider=colleague).count() == 1


def test_a_cancelled_visit_does_not_block_the_patient(
    grant, provider, colleague, visit_type, visit_at, booking_rules, frozen
):
    visit_at(local(TUESDAY, 10), status=Appointment.Status.CANCELLED)
    assert "Your appointment is booked." in _portal_post(
        grant, colleague, visit_type, local(TUESDAY, 10)
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("provider_inactive", "That provider is not taking appointments."),
        ("type_inactive", "That type of appointment is no longer offered."),
        ("type_not_offered", "That provider does not offer this type of appointment."),
    ],
)
def test_a_forged_post_cannot_book_what_the_clinic_does_not_offer(
    grant, provider, visit_type, booking_rules, frozen, change, message
):
    kind = visit_type
    if change == "provider_inactive":
        provider.is_active = False
        provider.save()
    elif change == "type_inactive":
        visit_type.is_active = False
        visit_type.save()
    else:
        kind = AppointmentTypeFactory(clinic=grant.clinic, name="Long visit")
    page = _portal_post(grant, provider, kind, local(TUESDAY, 9))
    assert message in page
    assert not Appointment.objects.exists()


def test_a_forged_post_cannot_book_outside_the_providers_hours(
    grant, provider, visit_type, booking_rules, frozen
):
    for start in (local(SUNDAY, 3), local(TUESDAY, 9, 5), local(TUESDAY, 11, 50)):
        assert "That time is not available. Pick another." in _portal_post(
            grant, provider, visit_type, start
        )
    assert not Appointment.objects.exists()


def test_a_forged_post_cannot_book_beyond_the_booking_window(
    grant, provider, visit_type, booking_rules, frozen
):
    portal_settings_of(grant.clinic, booking_window_days=7)
    far = local(TUESDAY + dt.timedelta(days=7), 9)
    assert "further ahead than the clinic takes bookings" in _portal_post(
        grant, provider, visit_type, far
    )
    client = portal_client(grant.user, grant.patient)
    # The window ends next Monday at 8:00: this week offers its five mornings, and next
    # week nothing (Monday's hours start after 8:00; the other days are not open yet).
    this_week = client.get("/portal/appointments/book/", {"appointment_type": visit_type.pk})
    slots = re.findall(r'name="slot" value="[^|"]+\|([^"]+)"', this_week.content.decode())
    assert len(slots) == 12 * 5
    assert (
        max(slots)
        == local(NOW.date() + dt.timedelta(days=4), 11, 45).astimezone(dt.UTC).isoformat()
    )
    next_week = client.get(
        "/portal/appointments/book/",
        {"appointment_type": visit_type.pk, "week": far.date().isoformat()},
    ).content.decode()
    assert 'name="slot"' not in next_week
    assert "Not open for booking yet:" in next_week
    assert "Next week" not in next_week
    assert not Appointment.objects.exists()


def test_a_forged_post_cannot_book_a_time_that_has_passed(
    grant, provider, visit_type, booking_rules, frozen
):
    frozen.move_to(local(TUESDAY, 10))
    assert "That time has passed." in _portal_post(grant, provider, visit_type, local(TUESDAY, 9))
    assert not Appointment.objects.exists()


def test_a_patient_holds_no_more_upcoming_visits_than_the_clinic_allows(
    grant, provider, visit_type, visit_at, booking_rules, frozen
):
    portal_settings_of(grant.clinic, max_upcoming_appointments=2)
    visit_at(local(TUESDAY, 9))
    visit_at(local(TUESDAY, 9, 15), status=Appointment.Status.CANCELLED)
    visit_at(local(NOW.date(), 7), status=Appointment.Status.COMPLETED)  # this morning
    assert "Your appointment is booked." in _portal_post(
        grant, provider, visit_type, local(TUESDAY, 10)
    )
    page = _portal_post(grant, provider, visit_type, local(TUESDAY, 11))
    assert "as many upcoming appointments as the clinic allows" in page
    assert Appointment.objects.filter(status="booked").count() == 2


def test_the_visit_limit_is_bounded_in_the_clinic_admin(clinic_admin, clinic):
    from clinics.models import PortalSettings

    settings_row = PortalSettings.objects.get(clinic=clinic)
    assert settings_row.max_upcoming_appointments == 3
    page = staff_client(clinic_admin).get(
        f"/admin/clinics/portalsettings/{settings_row.pk}/change/"
    )
    assert 'name="max_upcoming_appointments"' in page.content.decode()
    assert 'name="booking_window_days"' in page.content.decode()
    field = PortalSettings._meta.get_field("max_upcoming_appointments")
    assert [v.limit_value for v in field.validators] == [1, 20]


# --- The admin ----------------------------------------------------------------------------


def _admin_post(front_desk, data):
    return staff_client(front_desk).post(ADD, data)


def _errors(response):
    assert response.status_code == 200, "the form should come back with its errors"
    return " ".join(str(e) for e in response.context["adminform"].form.non_field_errors())


def test_front_desk_is_told_a_sunday_night_visit_is_outside_hours_and_may_book_it_on_purpose(
    grant, provider, visit_type, front_desk, frozen
):
    data = admin_booking(grant.patient, provider, visit_type, local(SUNDAY, 3))
    errors = _errors(_admin_post(front_desk, data))
    assert "is outside Dr Osei's hours" in errors
    assert "tick what to book over" in errors
    assert not Appointment.objects.exists()
    response = _admin_post(front_desk, {**data, "override": [services.NOT_OFFERED]})
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.start == local(SUNDAY, 3)
    warnings = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Booked over a conflict" in m and "outside Dr Osei's hours" in m for m in warnings)
    event = AuditEvent.objects.get(action="appointment.booked_over_rule")
    assert event.details == {"rules": ["not_offered"]}
    assert event.actor == front_desk
    assert event.object_id == str(appointment.pk)


def test_front_desk_is_told_the_patient_is_already_booked_with_someone_else(
    grant, provider, colleague, visit_type, visit_at, front_desk, frozen
):
    visit_at(local(TUESDAY, 10))
    data = admin_booking(grant.patient, colleague, visit_type, local(TUESDAY, 10))
    errors = _errors(_admin_post(front_desk, data))
    assert "already has an appointment at that time" in errors
    assert "with Dr Osei" in errors
    # Ticking another rule is not ticking this one.
    errors = _errors(_admin_post(front_desk, {**data, "override": [services.NOT_OFFERED]}))
    assert "with Dr Osei" in errors
    response = _admin_post(front_desk, {**data, "override": [services.PATIENT_OVERLAP]})
    assert response.status_code == 302
    booked = Appointment.objects.get(provider=colleague)
    assert booked.conflict_override
    event = AuditEvent.objects.get(action="appointment.booked_over_rule")
    assert event.details == {"rules": ["patient_overlap"]}


def test_front_desk_double_books_a_provider_only_on_purpose(
    grant, provider, visit_type, visit_at, front_desk, frozen
):
    visit_at(local(TUESDAY, 10), patient=PatientFactory(clinic=grant.clinic))
    data = admin_booking(grant.patient, provider, visit_type, local(TUESDAY, 10))
    assert "Dr Osei already has an appointment at that time" in _errors(
        _admin_post(front_desk, data)
    )
    response = _admin_post(front_desk, {**data, "override": [services.SLOT_TAKEN]})
    assert response.status_code == 302
    assert Appointment.objects.filter(provider=provider, start=local(TUESDAY, 10)).count() == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("provider_inactive", "Dr Osei is marked inactive"),
        ("type_inactive", "Regular visit is marked inactive"),
        ("type_not_offered", "Dr Osei does not offer Long visit"),
    ],
)
def test_no_override_books_what_the_clinic_does_not_offer(
    grant, provider, visit_type, front_desk, frozen, change, message
):
    kind = visit_type
    if change == "provider_inactive":
        provider.is_active = False
        provider.save()
    elif change == "type_inactive":
        visit_type.is_active = False
        visit_type.save()
    else:
        kind = AppointmentTypeFactory(clinic=grant.clinic, name="Long visit")
    data = admin_booking(
        grant.patient, provider, kind, local(TUESDAY, 9), override=services.OVERRIDABLE
    )
    assert message in _errors(_admin_post(front_desk, data))
    assert not Appointment.objects.exists()


def test_front_desk_is_told_of_the_visit_limit_and_the_window(
    grant, provider, visit_type, visit_at, front_desk, frozen
):
    portal_settings_of(grant.clinic, max_upcoming_appointments=1, booking_window_days=7)
    visit_at(local(TUESDAY, 9))
    far = local(TUESDAY + dt.timedelta(days=14), 9)
    data = admin_booking(grant.patient, provider, visit_type, far)
    errors = _errors(_admin_post(front_desk, data))
    assert "already has 1 upcoming appointments, the clinic's limit" in errors
    assert "more than 7 days ahead" in errors
    override = [services.VISIT_LIMIT, services.OUTSIDE_WINDOW]
    assert _admin_post(front_desk, {**data, "override": override}).status_code == 302
    event = AuditEvent.objects.get(action="appointment.booked_over_rule")
    assert event.details == {"rules": ["outside_window", "visit_limit"]}


# --- Concurrency --------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_concurrent_bookings_of_two_overlapping_times_give_one_patient_one_visit(
    clinic, provider, colleague, visit_type
):
    """The patient's row lock serialises one patient's bookings, so the overlap check
    sees the visit the winner just booked; the others are told, not crashed."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks; this run uses " + connection.vendor)
    portal_settings_of(clinic, booking_allowed=True)
    patient = PatientFactory(clinic=clinic)
    today = dt.date.today()
    monday = today + dt.timedelta(days=7 - today.weekday())
    # Two slots that overlap: Dr Osei at 9:00 and Dr Bell at 9:00, ten attempts each.
    choices = [(provider, local(monday, 9)), (colleague, local(monday, 9))]
    barrier = threading.Barrier(20)
    outcomes, errors = [], []

    def book(i):
        who, start = choices[i % 2]
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            services.appointment_book(
                patient=patient,
                provider=who,
                appointment_type=visit_type,
                start=start,
                booked_by=None,
            )
            outcomes.append("booked")
        except services.NotAllowed as refusal:
            outcomes.append(refusal.rule)
        except Exception as exc:  # noqa: BLE001 - any other error is the failure we look for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=book, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert outcomes.count("booked") == 1
    assert len(outcomes) == 20
    assert set(outcomes) <= {"booked", services.PATIENT_OVERLAP, services.SLOT_TAKEN}
    assert Appointment.objects.filter(patient=patient).count() == 1


def test_a_booking_refused_at_save_is_not_reported_as_added(
    grant, provider, visit_type, front_desk, frozen, monkeypatch
):
    """Someone else took the time between the form's check and the save."""

    def taken_meanwhile(**kwargs):
        raise services.SlotTaken()

    monkeypatch.setattr(services, "appointment_book", taken_meanwhile)
    data = admin_booking(grant.patient, provider, visit_type, local(TUESDAY, 9))
    response = staff_client(front_desk).post(ADD, data)
    assert response.status_code == 302
    assert response["Location"] == ADD
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["Nothing was booked: that time was just taken."]
    assert not Appointment.objects.exists()
