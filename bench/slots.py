"""How long it takes to compute one provider's free slots for 30 days when 2,000
appointments are already booked in that window.

    python bench/slots.py                # SQLite file in the temp folder
    DATABASE_URL=postgres://... python bench/slots.py

Prints the median and best of the timed runs (and the query count of one run).
"""

import datetime as dt
import statistics
import time

from _django import setup

setup("slots")

from django.db import connection
from django.test.utils import CaptureQueriesContext

from appointments.models import (
    Appointment,
    AppointmentType,
    Provider,
    WeeklyAvailability,
)
from appointments.selectors import free_slots
from patients.models import Patient
from tests.factories import ClinicFactory

BOOKED = 2_000
DAYS = 30
RUNS = 30


def build():
    clinic = ClinicFactory(slug="bench", name="Bench Clinic")
    kind = AppointmentType.objects.create(clinic=clinic, name="Short", duration_minutes=5)
    provider = Provider.objects.create(clinic=clinic, name="Dr Bench")
    provider.appointment_types.add(kind)
    WeeklyAvailability.objects.bulk_create(
        WeeklyAvailability(
            clinic=clinic,
            provider=provider,
            weekday=d,
            start_time=dt.time(8),
            end_time=dt.time(20),
        )
        for d in range(7)
    )
    patient = Patient.objects.create(
        clinic=clinic, first_name="B", last_name="Ench", date_of_birth=dt.date(1980, 1, 1)
    )
    start_day = dt.date.today() + dt.timedelta(days=1)
    # 144 five-minute slots a day; book every other one until 2,000 are taken.
    rows, day, minute = [], 0, 0
    while len(rows) < BOOKED:
        start = dt.datetime.combine(start_day + dt.timedelta(days=day), dt.time(8)).replace(
            tzinfo=clinic.tz
        ) + dt.timedelta(minutes=minute)
        rows.append(
            Appointment(
                clinic=clinic,
                patient=patient,
                provider=provider,
                appointment_type=kind,
                start=start,
                end=start + dt.timedelta(minutes=5),
            )
        )
        minute += 10
        if minute >= 12 * 60:
            day, minute = day + 1, 5 if minute % 10 == 0 else 0
    Appointment.objects.bulk_create(rows)
    return Provider.objects.select_related("clinic").get(pk=provider.pk), kind, start_day


def main():
    provider, kind, start_day = build()

    def run():
        return free_slots(provider=provider, appointment_type=kind, start_date=start_day, days=DAYS)

    with CaptureQueriesContext(connection) as queries:
        slots = run()
    timings = []
    for _ in range(RUNS):
        began = time.perf_counter()
        run()
        timings.append((time.perf_counter() - began) * 1000)
    free = sum(len(v) for v in slots.values())
    print(f"database: {connection.vendor}")
    print(f"booked in window: {BOOKED}, free slots found: {free} over {DAYS} days")
    print(f"queries per computation: {len(queries)}")
    print(
        f"free_slots(30 days): median {statistics.median(timings):.1f} ms, "
        f"best {min(timings):.1f} ms over {RUNS} runs"
    )


if __name__ == "__main__":
    main()
