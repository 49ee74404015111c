"""The patient sign-in, account and verification tests' people.

- ``chart``: Margaret Oyelaran's chart, with the details in tests/patients/flows.py;
- ``rosa``: a patient account with a password, an email, a mobile and a self grant.

The sign-in flow as a person walks it is in tests/patients/flows.py; the clients
(committing, so each code is in its outbox when the request returns) in tests/clients.py.
"""

import pytest

from patients.models import Patient
from tests.factories import PatientAccessFactory, PatientFactory, PatientIdentifierFactory
from tests.patients.flows import CHART_DOB, CHART_EMAIL, CHART_ID, CHART_MOBILE


@pytest.fixture
def chart(clinic) -> Patient:
    """A chart at the demo clinic with a health-card number, a mobile and an email."""
    patient = PatientFactory(
        clinic=clinic,
        first_name="Margaret",
        last_name="Oyelaran",
        date_of_birth=CHART_DOB,
        mobile=CHART_MOBILE,
        email=CHART_EMAIL,
    )
    PatientIdentifierFactory(patient=patient, number=CHART_ID)
    return patient


@pytest.fixture
def rosa(clinic):
    """A patient account with a password, an email, a mobile, and a self grant."""
    patient = PatientFactory(
        clinic=clinic,
        first_name="Rosa",
        last_name="Quintero",
        email="rosa@example.com",
        mobile="+16135550177",
    )
    return PatientAccessFactory(
        patient=patient, user__username="rosa", user__phone="+16135550177"
    ).user
