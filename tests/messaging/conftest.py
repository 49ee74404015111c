"""People of the messaging tests.

- ``maria``: a patient account with a self grant to Maria Silva's chart (``chart``);
- ``paul``: Maria's spouse, a representative whose grant includes messages;
- ``rita``: a carer whose grant leaves messages out;
- ``bob_chart``: another patient of the same clinic (Bob), with his own account;
- ``charlie_chart``: a patient account at the other clinic;
- ``thread``: Fiona (front desk, tests/conftest.py) wrote to Maria.

Notifications are sent on commit: the clients here are ``committing`` ones
(tests/clients.py), and ``start_thread`` (tests/messaging/threads.py) commits.
"""

import pytest

from tests.factories import PatientAccessFactory, PatientFactory
from tests.messaging.threads import start_thread


@pytest.fixture
def chart(clinic):
    return PatientFactory(
        clinic=clinic,
        first_name="Maria",
        last_name="Silva",
        email="maria@example.com",
        mobile="+16135550123",
    )


@pytest.fixture
def maria(chart):
    return PatientAccessFactory(patient=chart, user__username="maria").user


def _representative(chart, username, relationship, **scopes):
    return PatientAccessFactory(
        patient=chart,
        relationship=relationship,
        user__username=username,
        user__first_name=username.title(),
        user__last_name="Rep",
        user__email=f"{username}@example.com",
        **scopes,
    ).user


@pytest.fixture
def paul(chart):
    return _representative(chart, "paul", "spouse", can_messages=True)


@pytest.fixture
def rita(chart):
    return _representative(chart, "rita", "carer", can_messages=False)


@pytest.fixture
def bob_chart(clinic):
    patient = PatientFactory(clinic=clinic, first_name="Bob", last_name="Brown")
    PatientAccessFactory(patient=patient, user__username="bobby")
    return patient


@pytest.fixture
def charlie_chart(other_clinic, charlie):
    patient = PatientFactory(clinic=other_clinic, first_name="Charlie", last_name="Out")
    PatientAccessFactory(user=charlie, patient=patient)
    return patient


@pytest.fixture
def thread(fiona, chart):
    """Fiona wrote to Maria."""
    return start_thread(fiona, chart)
