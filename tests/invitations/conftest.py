"""The invitation, staff portal-access and representative tests' people.

- ``patient``: Maria Silva's chart (an email, no mobile), details in
  tests/invitations/flows.py;
- ``registered``: her portal account (password TEST_PASSWORD) with a self grant;
- ``carla``: the clinic admin, with a name the pages can show.

Links read http://<clinic host>:8000/... as in development. How staff send invitations
and people open them: tests/invitations/flows.py; the clients: tests/clients.py.
"""

import pytest

from patients.models import Patient, PatientAccess
from tests.factories import PatientAccessFactory, PatientFactory, named
from tests.invitations.flows import PATIENT_DOB, PATIENT_EMAIL


@pytest.fixture(autouse=True)
def _links_like_development(settings):
    """Links read http://<clinic host>:8000/... as the brief describes."""
    settings.PORTAL_LINK_SCHEME = "http"
    settings.PORTAL_LINK_PORT = "8000"


@pytest.fixture
def patient(clinic) -> Patient:
    """A chart at the demo clinic with an email and no mobile."""
    return PatientFactory(
        clinic=clinic,
        first_name="Maria",
        last_name="Silva",
        date_of_birth=PATIENT_DOB,
        email=PATIENT_EMAIL,
    )


@pytest.fixture
def registered(patient) -> PatientAccess:
    """The patient has a portal account (password TEST_PASSWORD) and a self grant."""
    return PatientAccessFactory(patient=patient, user__username="maria")


@pytest.fixture
def carla(clinic_admin):
    """The clinic admin, with a name the pages can show."""
    return named(clinic_admin, "Carla", "Admin")
