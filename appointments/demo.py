"""Demo schedule for `seed_demo`: types, weekly hours, and a few visits. Idempotent."""

import datetime as dt

from django.utils import timezone

from appointments.models import Appointment, AppointmentType, Provider, WeeklyAvailability
from patients.models import Patient

TYPES = [("Regular visit", 15), ("Annual physical", 30), ("Prescription renewal", 10)]


def seed_demo_appointments(clinic):
    if AppointmentType.objects.for_clinic(clinic).exists():
        return
    types = [
        AppointmentType.objects.create(clinic=clinic, name=name, duration_minutes=minutes)
        for name, minutes in TYPES
    ]
    for provider in Provider.objects.for_clinic(clinic):
        provider.appointment_types.set(types)
        for weekday in range(5):
            for start, end in ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(17))):
                WeeklyAvailability.objects.create(
                    clinic=clinic,
                    provider=provider,
                    weekday=weekday,
                    start_time=start,
                    end_time=end,
                )
    policy = clinic.portal_settings
    policy.booking_allowed = True
    policy.cancelling_allowed = True
    policy.save(update_fields=["booking_allowed", "cancelling_allowed"])
    today = timezone.localdate()
    providers = list(Provider.objects.for_clinic(clinic))
    for i, patient in enumerate(Patient.objects.for_clinic(clinic)):
        for days, status in (
            (-30, Appointment.Status.COMPLETED),
            (7 + i, Appointment.Status.BOOKED),
        ):
            day = today + dt.timedelta(days=days)
            while day.weekday() >= 5:
                day += dt.timedelta(days=1)
            start = dt.datetime.combine(day, dt.time(10 + i % 6)).replace(tzinfo=clinic.tz)
            Appointment.objects.create(
                clinic=clinic,
                patient=patient,
                provider=providers[i % len(providers)],
                appointment_type=types[0],
                start=start,
                end=start + dt.timedelta(minutes=types[0].duration_minutes),
                status=status,
            )
