"""Helpers for the invitation, staff portal-access and representative tests.

Notifications are written in the caller's transaction and sent on commit (Celery is
eager in tests). The test database never commits, so ``client()`` returns a test client
whose requests end like a committed transaction: the email or text is in its outbox
when the request returns.
"""

import re
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client, TestCase

from patients.models import Patient, PatientAccess
from portal.notifications import sms
from tests.factories import TEST_PASSWORD, PatientFactory, UserFactory

# 09:00 in Toronto (the clinic's time zone), on a whole second.
NOW = datetime(2030, 1, 15, 14, 0, tzinfo=UTC)

PATIENT_DOB = date(1961, 4, 9)
PATIENT_EMAIL = "maria.silva@example.com"
PATIENT_MOBILE = "+16135550123"
NEW_PASSWORD = "a long and private passphrase"

LINK_RE = re.compile(r"https?://[^\s\"'<>]+/portal/invitation/([A-Za-z0-9_-]+)/")
CODE_RE = re.compile(r"\b(\d{6})\b")


@pytest.fixture(autouse=True)
def _links_like_development(settings):
    """Links read http://<clinic host>:8000/... as the brief describes."""
    settings.PORTAL_LINK_SCHEME = "http"
    settings.PORTAL_LINK_PORT = "8000"


class CommittingClient(Client):
    """A test client whose requests end like a committed transaction: on-commit
    callbacks (the eager Celery send of notifications) run before it returns."""

    def request(self, **request):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**request)


def client(slug_or_host="demo", user=None, **defaults):
    """Like ``tests.conftest.host_client``, with notifications sent at each request's end."""
    explicit = "." in slug_or_host or slug_or_host == "localhost"
    host = slug_or_host if explicit else f"{slug_or_host}.localhost"
    result = CommittingClient(HTTP_HOST=host, **defaults)
    if user is not None:
        result.force_login(user)
    return result


def portal_session_client(user, patient=None):
    """Like ``tests.conftest.portal_client`` (signed in to the portal), committing."""
    import time

    from patients.sessions import SESSION_LAST_SEEN, SESSION_PATIENT, SESSION_SIGNED_IN_AT

    result = client(user.clinic.slug, user)
    session = result.session
    session[SESSION_SIGNED_IN_AT] = time.time()
    session[SESSION_LAST_SEEN] = time.time()
    if patient is not None:
        session[SESSION_PATIENT] = patient.pk
    session.save()
    return result


def staff_client(user, slug=None):
    """A staff member signed in to the clinic admin (on their own clinic unless told)."""
    return client(slug or user.clinic.slug, user)


def admin_url(patient, action=""):
    base = f"/admin/patients/patient/{patient.pk}/"
    return f"{base}{action}" if action else f"{base}change/"


def send(staff, patient, channel="email", **extra):
    """Send Portal Registration from the patient's admin page."""
    return staff.post(admin_url(patient, "portal/send/"), {"channel": channel}, **extra)


def flash(response):
    """The texts of the messages queued for the next page."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def links_in(text):
    return [m.group(0) for m in LINK_RE.finditer(text)]


def email_link(message):
    """The one invitation link in an email (text part; the HTML part must agree)."""
    links = links_in(message.body)
    assert len(links) == 1, message.body
    html = message.alternatives[0][0] if message.alternatives else ""
    assert links[0] in html
    return links[0]


def last_email_link():
    return email_link(mail.outbox[-1])


def last_sms_link():
    links = links_in(sms.outbox[-1].body)
    assert len(links) == 1, sms.outbox[-1].body
    return links[0]


def token_of(link):
    return LINK_RE.search(link).group(1)


def path_of(link):
    return urlsplit(link).path


def open_link(c, link):
    """Open the link as a person would (the landing moves the token into the session)
    and return the page it redirects to."""
    landing = c.get(path_of(link))
    assert landing.status_code == 302, landing
    assert landing["Location"] == "/portal/invitation/"
    return c.get("/portal/invitation/")


def confirm_dob(c, dob):
    return c.post("/portal/invitation/", {"date_of_birth": dob.isoformat()})


def create_account(c, *, method="password", password=NEW_PASSWORD):
    data = {"method": method, "terms": "on"}
    if method == "password":
        data.update(new_password1=password, new_password2=password)
    return c.post("/portal/invitation/", data)


def accept_as_new_account(c, link, dob, **kwargs):
    """Link → date of birth → new account → signed in. Returns the last response."""
    page = open_link(c, link)
    assert page.status_code == 200, page.content.decode()
    confirmed = confirm_dob(c, dob)
    assert confirmed.status_code == 302, confirmed.content.decode()
    done = create_account(c, **kwargs)
    assert done.status_code == 302, done.content.decode()
    assert done["Location"] == "/portal/"
    return done


def sign_in_with_password(c, login, password=TEST_PASSWORD):
    return c.post("/portal/sign-in/password/", {"login": login, "password": password})


def is_signed_in(response):
    return response.wsgi_request.user.is_authenticated


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
    user = UserFactory(
        clinic=patient.clinic,
        username="maria",
        first_name="Maria",
        last_name="Silva",
        email=PATIENT_EMAIL,
    )
    return PatientAccess.objects.create(
        clinic=patient.clinic, user=user, patient=patient, relationship="self"
    )


@pytest.fixture
def carla(clinic_admin):
    """The clinic admin, with a name the pages can show."""
    clinic_admin.first_name, clinic_admin.last_name = "Carla", "Admin"
    clinic_admin.save(update_fields=["first_name", "last_name"])
    return clinic_admin
