import datetime as dt
import zoneinfo

import pytest
import time_machine

from appointments.models import AppointmentType, Provider, WeeklyAvailability
from tests.factories import PatientAccessFactory, PatientFactory

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
# A Monday morning in Toronto, before opening.
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=TORONTO)


def local(day, hour, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute)).replace(tzinfo=TORONTO)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def visit_type(clinic):
    return AppointmentType.objects.create(clinic=clinic, name="Regular visit", duration_minutes=15)


@pytest.fixture
def provider(clinic, visit_type):
    """Dr Osei works weekdays 9:00–12:00."""
    doctor = Provider.objects.create(clinic=clinic, name="Dr Osei")
    doctor.appointment_types.add(visit_type)
    for weekday in range(5):
        WeeklyAvailability.objects.create(
            clinic=clinic,
            provider=doctor,
            weekday=weekday,
            start_time=dt.time(9),
            end_time=dt.time(12),
        )
    return doctor


@pytest.fixture
def policy(clinic):
    settings_row = clinic.portal_settings
    settings_row.booking_allowed = True
    settings_row.cancelling_allowed = True
    settings_row.cancel_cutoff_hours = 24
    settings_row.save()
    return settings_row


@pytest.fixture
def grant(clinic):
    """Ada, a patient with a portal account."""
    return PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Ada", email="ada@example.com")
    )
