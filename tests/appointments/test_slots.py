import datetime as dt

import pytest

from appointments.selectors import free_slots
from tests.appointments.schedule import NOW, TORONTO, local
from tests.factories import AppointmentFactory, AvailabilityExceptionFactory, PatientFactory

pytestmark = pytest.mark.django_db

MONDAY = NOW.date()
TUESDAY = MONDAY + dt.timedelta(days=1)


def _slots(provider, visit_type, day=TUESDAY, days=1):
    return free_slots(
        provider=provider, appointment_type=visit_type, start_date=day, days=days, now=NOW
    )


def test_it_offers_every_slot_of_the_working_hours(provider, visit_type):
    slots = _slots(provider, visit_type)[TUESDAY]
    assert len(slots) == 12  # 9:00–12:00 in 15-minute visits
    assert slots[0] == local(TUESDAY, 9)
    assert slots[-1] == local(TUESDAY, 11, 45)


def test_it_leaves_out_booked_times_but_not_cancelled_ones(clinic, provider, visit_type):
    patient = PatientFactory(clinic=clinic)
    for minute, status in ((0, "booked"), (15, "cancelled"), (30, "completed")):
        start = local(TUESDAY, 10, minute)
        AppointmentFactory(
            patient=patient,
            provider=provider,
            appointment_type=visit_type,
            start=start,
            status=status,
        )
    slots = _slots(provider, visit_type)[TUESDAY]
    assert local(TUESDAY, 10) not in slots
    assert local(TUESDAY, 10, 15) in slots
    assert local(TUESDAY, 10, 30) not in slots
    assert len(slots) == 10


def test_a_longer_visit_does_not_fit_across_a_booking(clinic, provider, visit_type):
    visit_type.duration_minutes = 30
    visit_type.save()
    start = local(TUESDAY, 9, 45)
    # Booked 9:45–10:00.
    AppointmentFactory(
        patient=PatientFactory(clinic=clinic),
        provider=provider,
        appointment_type=visit_type,
        start=start,
        end=start + dt.timedelta(minutes=15),
    )
    slots = _slots(provider, visit_type)[TUESDAY]
    assert local(TUESDAY, 9, 30) not in slots  # would end at 10:00, across 9:45
    assert slots == [
        local(TUESDAY, 9),
        local(TUESDAY, 10),
        local(TUESDAY, 10, 30),
        local(TUESDAY, 11),
        local(TUESDAY, 11, 30),
    ]


def test_time_off_and_extra_hours_change_the_day(clinic, provider, visit_type):
    AvailabilityExceptionFactory(
        provider=provider, date=TUESDAY, kind="off", start_time=dt.time(10), end_time=dt.time(11)
    )
    AvailabilityExceptionFactory(
        provider=provider,
        date=TUESDAY,
        kind="extra",
        start_time=dt.time(18),
        end_time=dt.time(18, 30),
    )
    wednesday = TUESDAY + dt.timedelta(days=1)
    AvailabilityExceptionFactory(provider=provider, date=wednesday, kind="off")
    slots = _slots(provider, visit_type, days=2)
    assert local(TUESDAY, 10, 30) not in slots[TUESDAY]
    assert local(TUESDAY, 11) in slots[TUESDAY]
    assert local(TUESDAY, 18, 15) in slots[TUESDAY]
    assert wednesday not in slots


def test_weekends_and_past_times_are_not_offered(provider, visit_type):
    slots = free_slots(
        provider=provider,
        appointment_type=visit_type,
        start_date=MONDAY,
        days=7,
        now=local(MONDAY, 10, 5),
    )
    assert slots[MONDAY][0] == local(MONDAY, 10, 15)
    assert MONDAY + dt.timedelta(days=5) not in slots
    assert MONDAY + dt.timedelta(days=6) not in slots


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        (dt.date(2026, 3, 6), 14),  # Friday before clocks spring forward: EST, UTC-5
        (dt.date(2026, 3, 9), 13),  # Monday after: EDT, UTC-4
        (dt.date(2026, 10, 30), 13),  # Friday before clocks fall back: EDT
        (dt.date(2026, 11, 2), 14),  # Monday after: EST
    ],
)
def test_slots_keep_the_clinics_wall_clock_across_daylight_saving(
    provider, visit_type, day, utc_hour
):
    first = free_slots(
        provider=provider,
        appointment_type=visit_type,
        start_date=day,
        days=1,
        now=local(day, 0),
    )[day][0]
    assert first.astimezone(TORONTO).hour == 9
    assert first.astimezone(dt.UTC).hour == utc_hour


def test_a_weekend_that_changes_the_clocks_keeps_every_weekday_slot(clinic, provider, visit_type):
    """Hours on the day the clocks change, a Sunday, and around it."""
    sunday = dt.date(2026, 3, 8)
    AvailabilityExceptionFactory(
        provider=provider, date=sunday, kind="extra", start_time=dt.time(1), end_time=dt.time(4)
    )
    slots = free_slots(
        provider=provider,
        appointment_type=visit_type,
        start_date=sunday,
        days=1,
        now=local(sunday - dt.timedelta(days=1), 0),
    )[sunday]
    # 01:00–04:00 wall clock on the spring-forward night is only two real hours.
    assert slots[0] == local(sunday, 1)
    assert (slots[-1] + dt.timedelta(minutes=15)) <= local(sunday, 4)
    assert len(slots) == 8
