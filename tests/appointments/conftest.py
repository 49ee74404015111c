"""The appointments tests' doctor, patient and clock (``visit_type`` and
``booking_rules`` are shared: tests/conftest.py)."""

import datetime as dt

import pytest

from tests.appointments.schedule import NOW
from tests.factories import (
    AppointmentFactory,
    PatientAccessFactory,
    PatientFactory,
    ProviderFactory,
)


@pytest.fixture
def now():
    """Where ``frozen`` stops the clock: a Monday morning in Toronto, before opening."""
    return NOW


@pytest.fixture
def provider(clinic, visit_type):
    """Dr Osei works weekdays 9:00–12:00."""
    return ProviderFactory(
        clinic=clinic,
        name="Dr Osei",
        appointment_types=[visit_type],
        weekly_hours=(dt.time(9), dt.time(12)),
    )


@pytest.fixture
def colleague(clinic, visit_type):
    """Dr Bell works the same hours as Dr Osei and offers the same visits."""
    return ProviderFactory(
        clinic=clinic,
        name="Dr Bell",
        appointment_types=[visit_type],
        weekly_hours=(dt.time(9), dt.time(12)),
    )


@pytest.fixture
def grant(clinic):
    """Ada, a patient with a portal account."""
    return PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Ada", email="ada@example.com")
    )


@pytest.fixture
def visit_at(grant, provider, visit_type):
    """``visit_at(start, **fields)``: a visit with Dr Osei, Ada's unless ``patient`` is
    given, as the clinic's system writes it (not booked through the portal)."""

    def make(start, **fields):
        fields.setdefault("patient", grant.patient)
        return AppointmentFactory(
            provider=provider, appointment_type=visit_type, start=start, **fields
        )

    return make
