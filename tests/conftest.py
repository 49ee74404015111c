"""Fixtures shared by more than one suite; a suite's own live in its conftest.py.

The people, in the spirit of Alice/Bob/Charlie:
- ``alice``: a patient account at the demo clinic;
- ``bob``: a colleague at the same clinic (another patient account);
- ``charlie``: an outsider, a patient account at another clinic.
Staff: ``front_desk`` (``fiona`` once she has a name the pages can show) and
``clinic_admin`` at the demo clinic, ``outsider_staff`` at the other clinic.

The clock: ``frozen`` stops it at ``now`` (``tests.clock.NOW`` unless a suite's conftest
names another moment) until the test moves it.

Appointments: ``visit_type``, and ``booking_rules`` (patients may book and cancel up to
24 hours ahead).

Rose Tremblay (the French tests, in pages and in the browser): ``rose_chart`` says
French; ``rose`` is her account; she acts for her husband ``gerard``; ``roses_portal``
gives her pages something to show.

Clients and sessions are built with tests/clients.py, rows with tests/factories.py.

``make test`` runs the suite on two processes (pytest-xdist's ``-n 2``): each has its own
test database (pytest-django names them ``<name>_gw0``, ``<name>_gw1``) and its own Redis
database (``pytest_configure`` below); the stand-in servers listen on ports the system picks.
"""

import copy
import datetime as dt
import os
from urllib.parse import urlsplit, urlunsplit

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from messaging import services as messaging
from patients import demographics
from patients.models import PatientAccess
from portal.notifications import sms
from tests.clock import NOW
from tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ClinicAdminFactory,
    ClinicFactory,
    PatientAccessFactory,
    PatientFactory,
    PatientIdentifierFactory,
    ProviderFactory,
    StaffFactory,
    UserFactory,
    named,
    portal_settings_of,
)
from tests.i18n.french import ROSE_EMAIL, ROSE_ID, ROSE_MOBILE


def pytest_configure(config):
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker and django_settings.REDIS_URL:
        _use_a_redis_database_of_its_own(worker)


def redis_url_of_worker(url: str, worker: str) -> str:
    """The Redis URL of pytest-xdist's worker ``gwN``: the database N after the one ``url``
    names, or N before it when that would pass Redis's last (15): CI's REDIS_URL names
    database 15, so its two workers use 15 and 14."""
    index = int(worker.removeprefix("gw"))
    parts = urlsplit(url)
    first = int(parts.path.strip("/") or 0)
    number = first + index if first + index <= 15 else first - index
    if not 0 <= number <= 15:
        raise pytest.UsageError(f"no Redis database left for worker {worker} of {url}")
    return urlunsplit(parts._replace(path=f"/{number}"))


def _use_a_redis_database_of_its_own(worker):
    """Every test empties the cache (FLUSHDB on Redis, ``_fast_and_isolated``): two workers
    sharing a database would empty each other's sessions and counters in mid-test."""
    url = redis_url_of_worker(django_settings.REDIS_URL, worker)
    # Read by the tests that talk to Redis themselves (at import, after this hook).
    os.environ["REDIS_URL"] = url
    caches = copy.deepcopy(django_settings.CACHES)
    caches["default"]["LOCATION"] = url
    # For the whole run: the cache handler is rebuilt from the new CACHES at once.
    override_settings(REDIS_URL=url, CELERY_BROKER_URL=url, CACHES=caches).enable()
    from portal.celery import app

    app.conf.broker_url = url


@pytest.fixture(scope="session", autouse=True)
def _postgresql_flush_by_delete():
    """After a transactional test, PostgreSQL's flush (TRUNCATE of every table) takes a
    second or more: a new file for each table and index. Deleting the few rows a test left
    takes milliseconds, and leaves the same empty tables. The append-only triggers
    (portal.core.history) would refuse the DELETE, so it runs as a replica session, which
    fires no triggers: that needs a superuser (CI's and the development database's
    ``postgres``); any other user keeps Django's TRUNCATE."""
    if connection.vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or reset_sequences or not _superuser(self.connection):
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        # SET LOCAL: for the flush's own transaction (execute_sql_flush runs it atomically).
        deletes = [f"DELETE FROM {self.quote_name(table)}" for table in tables]
        return ["SET LOCAL session_replication_role = replica", *deletes]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """The migrations' rows (content types, permissions, staff roles) a transactional test
    restores are kept on the connection object of the thread that created the test
    database. Once the browser tests' Playwright runs its event loop in this thread, the
    thread counts as asynchronous and Django's connection handler hands it another
    connection object, without them: a transactional test would then start on the empty
    tables an earlier one's flush left. Kept on the connection class instead, every
    connection of this process finds them."""
    from django.db import connections

    for each in connections.all(initialized_only=True):
        contents = getattr(each, "_test_serialized_contents", None)
        if contents is not None:
            type(each)._test_serialized_contents = contents
    yield


def _superuser(db_connection) -> bool:
    with db_connection.cursor() as cursor:
        cursor.execute("SHOW is_superuser")
        return cursor.fetchone()[0] == "on"


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
    # Links read http://<clinic host>:8000/... as in development, whatever the environment.
    settings.PORTAL_LINK_SCHEME = "http"
    settings.PORTAL_LINK_PORT = "8000"
    sms.outbox.clear()
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request in French leaves French active in
    the thread, and a later test reading a label would see it."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _private_attachments(settings, tmp_path):
    """Each test's attachments go to a folder of its own."""
    settings.PORTAL_ATTACHMENTS_ROOT = str(tmp_path / "attachments")


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


@pytest.fixture
def fiona(front_desk):
    """The front-desk staff member, with a name the pages can show."""
    return named(front_desk, "Fiona", "Desk")


# --- The clock -----------------------------------------------------------------------------


@pytest.fixture
def now():
    """Where ``frozen`` stops the clock."""
    return NOW


@pytest.fixture
def frozen(now):
    """The clock stands still at ``now`` until the test moves it (``frozen.shift(...)``,
    ``frozen.move_to(...)``)."""
    with time_machine.travel(now, tick=False) as traveller:
        yield traveller


# --- Appointments --------------------------------------------------------------------------


@pytest.fixture
def visit_type(clinic):
    return AppointmentTypeFactory(clinic=clinic, name="Regular visit", duration_minutes=15)


@pytest.fixture
def booking_rules(clinic):
    """Patients may book, and cancel until 24 hours before the visit."""
    return portal_settings_of(
        clinic, booking_allowed=True, cancelling_allowed=True, cancel_cutoff_hours=24
    )


# --- Rose Tremblay, who reads French ---------------------------------------------------------


@pytest.fixture
def rose_chart(clinic):
    chart = PatientFactory(
        clinic=clinic,
        first_name="Rose",
        last_name="Tremblay",
        date_of_birth=dt.date(1949, 6, 2),
        email=ROSE_EMAIL,
        mobile=ROSE_MOBILE,
        address_line1="12 rue Principale",
        city="Gatineau",
        region="QC",
        postal_code="J8X 1A1",
        preferred_language="fr",
    )
    PatientIdentifierFactory(patient=chart, number=ROSE_ID)
    return chart


@pytest.fixture
def rose(rose_chart):
    """Rose's portal account (a password, her email and mobile), with a self grant."""
    return PatientAccessFactory(
        patient=rose_chart, user__username="rose", user__phone=ROSE_MOBILE
    ).user


@pytest.fixture
def gerard(clinic, rose):
    """Rose's husband; Rose acts for him (all scopes)."""
    chart = PatientFactory(
        clinic=clinic, first_name="Gérard", last_name="Tremblay", preferred_language="fr"
    )
    PatientAccessFactory(user=rose, patient=chart, relationship=PatientAccess.Relationship.SPOUSE)
    return chart


@pytest.fixture
def roses_doctor(clinic, visit_type):
    """Dre Lavoie works weekdays 9:00–12:00 (clinic time)."""
    return ProviderFactory(
        clinic=clinic,
        name="Dre Lavoie",
        appointment_types=[visit_type],
        weekly_hours=(dt.time(9), dt.time(12)),
    )


@pytest.fixture
def roses_portal(clinic, rose, rose_chart, gerard, roses_doctor, visit_type, booking_rules, fiona):
    """Everything Rose's pages can show: appointments, a message, requests. (Tests that
    check dates ask for ``frozen`` first.)"""
    now = timezone.now()
    rows = {}
    for name, days, status in (("upcoming", 7, "booked"), ("past", -30, "completed")):
        rows[name] = AppointmentFactory(
            patient=rose_chart,
            provider=roses_doctor,
            appointment_type=visit_type,
            start=(now + dt.timedelta(days=days)).replace(hour=15, minute=0),
            status=status,
        )
    rows["thread"] = messaging.thread_start(
        clinic=clinic,
        patient=rose_chart,
        subject="Résultats de prise de sang",
        category="general",
        body="Bonjour Madame Tremblay, vos résultats sont normaux.",
        author=fiona,
    )
    declined = demographics.change_request_create(
        request=None, patient=rose_chart, requested_by=rose, proposed={"city": "Hull"}
    )
    demographics.change_request_decide(
        request=None,
        change_request=declined,
        decided_by=fiona,
        accept=set(),
        decline_reason="Adresse introuvable",
    )
    rows["pending"] = demographics.change_request_create(
        request=None, patient=rose_chart, requested_by=rose, proposed={"postal_code": "J8Y 2B2"}
    )
    return rows
