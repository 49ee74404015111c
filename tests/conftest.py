"""Shared fixtures.

The people, in the spirit of Alice/Bob/Charlie:
- ``alice``: a patient account at the demo clinic;
- ``bob``: a colleague at the same clinic (another patient account);
- ``charlie``: an outsider, a patient account at another clinic.
Staff: ``front_desk`` and ``clinic_admin`` at the demo clinic, ``outsider_staff`` at
the other clinic. Clients are bound to a clinic's host (``<slug>.localhost``).
"""

import pytest
from django.test import Client

from portal.notifications import sms
from tests.factories import (
    ClinicAdminFactory,
    ClinicFactory,
    StaffFactory,
    UserFactory,
)


def pytest_collection_modifyitems(items):
    """Every transactional test restores the migrations' rows (content types, permissions,
    staff roles) afterwards. A restore that follows a plain flush collides with the rows
    post_migrate re-created, so all transactional tests restore, not just some."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if (
            marker
            and marker.kwargs.get("transaction")
            and not marker.kwargs.get("serialized_rollback")
        ):
            kwargs = {**marker.kwargs, "serialized_rollback": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    # Argon2 is the production hasher; tests use a fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SMS_BACKEND = "portal.notifications.sms.LocmemSmsBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PORTAL_BASE_DOMAIN = "localhost"
    settings.PORTAL_STAFF_OTP_REQUIRED = False
    sms.outbox.clear()
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run in-process in tests, even when REDIS_URL points at a real broker."""
    from portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def sms_outbox():
    return sms.outbox


@pytest.fixture
def clinic(db):
    return ClinicFactory(slug="demo", name="Demo Family Clinic")


@pytest.fixture
def other_clinic(db):
    return ClinicFactory(slug="northside", name="Northside Health Centre")


@pytest.fixture
def alice(clinic):
    return UserFactory(clinic=clinic, username="alice", first_name="Alice")


@pytest.fixture
def bob(clinic):
    return UserFactory(clinic=clinic, username="bob", first_name="Bob")


@pytest.fixture
def charlie(other_clinic):
    return UserFactory(clinic=other_clinic, username="charlie", first_name="Charlie")


@pytest.fixture
def front_desk(clinic):
    return StaffFactory(clinic=clinic, username="frontdesk")


@pytest.fixture
def clinic_admin(clinic):
    return ClinicAdminFactory(clinic=clinic, username="clinicadmin")


@pytest.fixture
def outsider_staff(other_clinic):
    return ClinicAdminFactory(clinic=other_clinic, username="outsideradmin")


def host_client(slug_or_host, user=None):
    explicit = "." in slug_or_host or slug_or_host == "localhost"
    host = slug_or_host if explicit else f"{slug_or_host}.localhost"
    client = Client(HTTP_HOST=host)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def demo_client(clinic):
    return host_client("demo")


@pytest.fixture
def northside_client(other_clinic):
    return host_client("northside")


@pytest.fixture
def admin_client_for(clinic):
    """A client signed in to the clinic admin as the given staff member."""

    def make(user):
        return host_client(user.clinic.slug, user)

    return make


def portal_client(user, patient=None):
    """A client on the user's clinic host with a portal session, as after sign-in."""
    import time

    from patients.sessions import SESSION_LAST_SEEN, SESSION_PATIENT, SESSION_SIGNED_IN_AT

    client = host_client(user.clinic.slug, user)
    session = client.session
    session[SESSION_SIGNED_IN_AT] = time.time()
    session[SESSION_LAST_SEEN] = time.time()
    if patient is not None:
        session[SESSION_PATIENT] = patient.pk
    session.save()
    return client
