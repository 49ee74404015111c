"""People and helpers for the messaging tests.

- ``maria``: a patient account with a self grant to Maria Silva's chart (demo clinic);
- ``paul``: Maria's spouse, a representative whose grant includes messages;
- ``rita``: a carer whose grant leaves messages out;
- ``bob_chart``: another patient of the same clinic (Bob), with his own account;
- ``charlie_chart``: a patient account at the other clinic;
- ``fiona``: front-desk staff of the demo clinic.

Notifications are recorded in the caller's transaction and sent on commit; the clients
here end each request like a committed transaction, so what was sent is in the
outboxes when the request returns.
"""

import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase
from PIL import Image

from messaging import services
from messaging.attachments import check_upload
from patients.models import PatientAccess
from tests.factories import PatientFactory, UserFactory

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
# The start of a Windows executable ("MZ" header).
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def image_bytes(fmt="PNG", size=(8, 8)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(name, content, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def checked(name="results.pdf", content=PDF_BYTES, max_mb=10):
    """An upload that passed the content check, as a form hands it to the services."""
    return check_upload(upload(name, content), max_mb=max_mb)


@pytest.fixture(autouse=True)
def _private_attachments(settings, tmp_path):
    settings.PORTAL_ATTACHMENTS_ROOT = str(tmp_path / "attachments")
    settings.PORTAL_LINK_SCHEME = "http"
    settings.PORTAL_LINK_PORT = "8000"


class CommittingClient(Client):
    """Each request ends like a committed transaction: on-commit callbacks (the eager
    send of notifications) run before it returns."""

    def request(self, **request):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**request)


def client_for(user, patient=None):
    """A client on the user's clinic host: a portal session (as after sign-in) for a
    portal account, or a signed-in admin session for staff."""
    from patients.sessions import SESSION_LAST_SEEN, SESSION_PATIENT, SESSION_SIGNED_IN_AT

    client = CommittingClient(HTTP_HOST=f"{user.clinic.slug}.localhost")
    client.force_login(user)
    if not user.is_staff:
        session = client.session
        session[SESSION_SIGNED_IN_AT] = time.time()
        session[SESSION_LAST_SEEN] = time.time()
        if patient is not None:
            session[SESSION_PATIENT] = patient.pk
        session.save()
    return client


def committed(function, **kwargs):
    """Call a service as if in its own committed transaction (notifications go out)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return function(**kwargs)


@pytest.fixture
def fiona(front_desk):
    front_desk.first_name, front_desk.last_name = "Fiona", "Desk"
    front_desk.save(update_fields=["first_name", "last_name"])
    return front_desk


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
    user = UserFactory(
        clinic=chart.clinic,
        username="maria",
        first_name="Maria",
        last_name="Silva",
        email="maria@example.com",
    )
    PatientAccess.objects.create(clinic=chart.clinic, user=user, patient=chart)
    return user


def _representative(chart, username, relationship, **scopes):
    user = UserFactory(
        clinic=chart.clinic,
        username=username,
        first_name=username.title(),
        last_name="Rep",
        email=f"{username}@example.com",
    )
    PatientAccess.objects.create(
        clinic=chart.clinic, user=user, patient=chart, relationship=relationship, **scopes
    )
    return user


@pytest.fixture
def paul(chart):
    return _representative(chart, "paul", "spouse", can_messages=True)


@pytest.fixture
def rita(chart):
    return _representative(chart, "rita", "carer", can_messages=False)


@pytest.fixture
def bob_chart(clinic):
    patient = PatientFactory(clinic=clinic, first_name="Bob", last_name="Brown")
    user = UserFactory(clinic=clinic, username="bobby", email=patient.email)
    PatientAccess.objects.create(clinic=clinic, user=user, patient=patient)
    return patient


@pytest.fixture
def charlie_chart(other_clinic, charlie):
    patient = PatientFactory(clinic=other_clinic, first_name="Charlie", last_name="Out")
    PatientAccess.objects.create(clinic=other_clinic, user=charlie, patient=patient)
    return patient


def start_thread(staff, patient, *, subject="Your test results", body="Please call us.", **kw):
    """Staff start a thread (committed: the patient's side is notified)."""
    return committed(
        services.thread_start,
        clinic=patient.clinic,
        patient=patient,
        subject=subject,
        category=kw.pop("category", "general"),
        body=body,
        author=staff,
        **kw,
    )


@pytest.fixture
def thread(fiona, chart):
    """Fiona wrote to Maria."""
    return start_thread(fiona, chart)


def portal_settings_of(clinic, **values):
    settings_row = clinic.portal_settings
    for field, value in values.items():
        setattr(settings_row, field, value)
    settings_row.save()
    return settings_row
