"""The security tests' world: who and what ``world`` (tests/security/conftest.py) holds."""

from dataclasses import dataclass, field

from tests.factories import PatientAccessFactory, PatientFactory


def with_self_grant(clinic, *, first_name, last_name, username, **patient_fields):
    """A chart and a portal account with a ``self`` grant to it."""
    grant = PatientAccessFactory(
        patient=PatientFactory(
            clinic=clinic, first_name=first_name, last_name=last_name, **patient_fields
        ),
        user__username=username,
    )
    return grant.patient, grant.user


@dataclass
class World:
    clinic: object
    other_clinic: object
    victim: object
    victim_user: object
    owner_staff: object
    # model label → the victim's row of that kind
    rows: dict = field(default_factory=dict)
    people: dict = field(default_factory=dict)
