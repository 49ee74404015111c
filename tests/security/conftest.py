"""Clients and the fixture world of the cross-app security tests.

The world has one row of every kind a clinic's URLs can name, all at the demo clinic and
all about one patient, Verity Victimson (the victim), and the people who must not reach
them: a patient and staff of northside (the other clinic), another patient of the demo
clinic, and representatives whose grant to Verity was revoked. Its owners, Verity's own
account and a demo superuser, can reach every row (the sweep's positive control).
"""

import datetime as dt
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test import Client, TestCase
from django.utils import timezone
from hypothesis.configuration import set_hypothesis_home_dir

from appointments.models import Appointment, AppointmentType, Provider
from clinics.models import IdentifierType
from invitations.models import Invitation
from messaging import services as messaging_services
from messaging.attachments import check_upload
from patients import demographics
from patients.models import PatientAccess, PatientCategory, SignInLock, VerificationRequest
from patients.sessions import SESSION_LAST_SEEN, SESSION_PATIENT, SESSION_SIGNED_IN_AT
from portal.audit.services import audit_record
from portal.notifications.services import notify
from tests.factories import (
    ClinicAdminFactory,
    PatientFactory,
    PatientIdentifierFactory,
    StaffFactory,
    UserFactory,
)

# Hypothesis caches what it learns under .hypothesis/ in the working directory; keep the
# working tree clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "portal-security-hypothesis")

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


class CommittingClient(Client):
    """Each request ends like a committed transaction: on-commit callbacks (the eager
    send of notifications) run before it returns."""

    def request(self, **request):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**request)


def make_client(host, user=None, patient=None, *, committing=False, raise_exceptions=True):
    """A client on ``host`` (a slug or a full host name), signed in as ``user``; a portal
    account gets a portal session (as after sign-in) acting for ``patient``."""
    if "." not in host and host != "localhost":
        host = f"{host}.localhost"
    cls = CommittingClient if committing else Client
    client = cls(HTTP_HOST=host, raise_request_exception=raise_exceptions)
    if user is not None:
        client.force_login(user)
        if not user.is_staff:
            session = client.session
            session[SESSION_SIGNED_IN_AT] = time.time()
            session[SESSION_LAST_SEEN] = time.time()
            if patient is not None:
                session[SESSION_PATIENT] = patient.pk
            session.save()
    return client


def on_host(client, host):
    """The same cookies presented on another host (a session carried across clinics)."""
    client.defaults["HTTP_HOST"] = host if "." in host else f"{host}.localhost"
    return client


def pdf_upload(name="results.pdf"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(name, PDF_BYTES, content_type="application/pdf")
    return check_upload(upload, max_mb=10)


@pytest.fixture(autouse=True)
def _private_attachments(settings, tmp_path):
    settings.PORTAL_ATTACHMENTS_ROOT = str(tmp_path / "attachments")


def with_self_grant(clinic, *, first_name, last_name, username, **patient_fields):
    """A chart and a portal account with a ``self`` grant to it."""
    patient = PatientFactory(
        clinic=clinic, first_name=first_name, last_name=last_name, **patient_fields
    )
    user = UserFactory(
        clinic=clinic,
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=patient.email,
    )
    PatientAccess.objects.create(clinic=clinic, user=user, patient=patient, relationship="self")
    return patient, user


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


@pytest.fixture
def world(clinic, other_clinic) -> World:
    policy = clinic.portal_settings
    policy.booking_allowed = True
    policy.cancelling_allowed = True
    policy.save()

    owner_staff = StaffFactory(clinic=clinic, username="owner-super", is_superuser=True)
    victim, victim_user = with_self_grant(
        clinic,
        first_name="Verity",
        last_name="Victimson",
        username="verity",
        mobile="+16135550142",
    )
    PatientIdentifierFactory(patient=victim, number="1234567890")

    provider = Provider.objects.create(clinic=clinic, name="Dr Osei")
    kind = AppointmentType.objects.create(clinic=clinic, name="Regular visit")
    provider.appointment_types.add(kind)
    start = timezone.now().replace(microsecond=0) + dt.timedelta(days=7)
    appointment = Appointment.objects.create(
        clinic=clinic,
        patient=victim,
        provider=provider,
        appointment_type=kind,
        start=start,
        end=start + dt.timedelta(minutes=15),
        reason="Knee pain",
    )
    thread = messaging_services.thread_start(
        clinic=clinic,
        patient=victim,
        subject="Your results",
        category="general",
        body="Please call us.",
        author=owner_staff,
        attachments=[pdf_upload()],
    )
    attachment = thread.messages.get().attachments.get()
    change_request = demographics.change_request_create(
        request=None, patient=victim, requested_by=victim_user, proposed={"city": "Elsewhere"}
    )
    stranger = UserFactory(clinic=clinic, username="stranger")
    verification = VerificationRequest.objects.create(
        clinic=clinic,
        patient=victim,
        user=stranger,
        channel="email",
        destination=stranger.email,
    )
    lock = SignInLock.objects.create(clinic=clinic, subject="f" * 64, user=victim_user, failures=3)
    category = PatientCategory.objects.create(clinic=clinic, name="Family")
    invitation = Invitation.objects.create(
        clinic=clinic,
        patient=victim,
        channel="email",
        destination=victim.email,
        expires_at=timezone.now() + dt.timedelta(days=3),
        sent_by=owner_staff,
    )
    event = audit_record(
        action="patient.viewed", clinic=clinic, actor=owner_staff, obj=victim, acting_for=victim
    )
    notification = notify(
        clinic=clinic, channel="email", recipient=victim.email, template="staff_test"
    )

    rows = {
        "clinics.portalsettings": policy,
        "clinics.identifiertype": IdentifierType.objects.for_clinic(clinic).first(),
        "audit.auditevent": event,
        "notifications.notification": notification,
        "invitations.invitation": invitation,
        "patients.patient": victim,
        "patients.patientcategory": category,
        "patients.signinlock": lock,
        "patients.verificationrequest": verification,
        "patients.changerequest": change_request,
        "appointments.provider": provider,
        "appointments.appointmenttype": kind,
        "appointments.appointment": appointment,
        "messaging.thread": thread,
        "messaging.attachment": attachment,
    }

    # The people who must not reach them.
    other, other_user = with_self_grant(
        clinic, first_name="Olive", last_name="Otherby", username="olive"
    )
    rex_chart, rex = with_self_grant(clinic, first_name="Rex", last_name="Revoked", username="rex")
    PatientAccess.objects.create(
        clinic=clinic,
        user=rex,
        patient=victim,
        relationship="spouse",
        revoked_at=timezone.now() - dt.timedelta(days=1),
    )
    rhea = UserFactory(clinic=clinic, username="rhea", first_name="Rhea")
    PatientAccess.objects.create(
        clinic=clinic,
        user=rhea,
        patient=victim,
        relationship="carer",
        revoked_at=timezone.now() - dt.timedelta(days=1),
    )
    charlie_chart, charlie = with_self_grant(
        other_clinic, first_name="Charlie", last_name="Outsider", username="charlie"
    )
    northside_admin = ClinicAdminFactory(clinic=other_clinic, username="north-admin")
    northside_super = StaffFactory(clinic=other_clinic, username="north-super", is_superuser=True)
    people = {
        "other": (other_user, other),
        "rex": (rex, victim),
        "rhea": (rhea, victim),
        "charlie": (charlie, charlie_chart),
        "northside_admin": (northside_admin, None),
        "northside_super": (northside_super, None),
    }
    return World(
        clinic=clinic,
        other_clinic=other_clinic,
        victim=victim,
        victim_user=victim_user,
        owner_staff=owner_staff,
        rows=rows,
        people=people,
    )
