"""The fixture world of the cross-app security tests.

The world has one row of every kind a clinic's URLs can name, all at the demo clinic and
all about one patient, Verity Victimson (the victim), and the people who must not reach
them: a patient and staff of northside (the other clinic), another patient of the demo
clinic, and representatives whose grant to Verity was revoked. Its owners, Verity's own
account and a demo superuser, can reach every row (the sweep's positive control).
Clients: tests/clients.py; the world's shape: tests/security/world.py.
"""

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from django.utils import timezone
from hypothesis.configuration import set_hypothesis_home_dir

from clinics.models import IdentifierType
from fhir_api.models import IdentifierSystem
from invitations.services import invitation_send
from messaging import services as messaging_services
from patients import demographics
from portal.audit.services import audit_record
from portal.notifications.services import notify
from portal.staff.models import StaffMember
from records.models import Medication, ReleaseRule
from tests.factories import (
    AllergyFactory,
    AppointmentFactory,
    AppointmentRequestFactory,
    AppointmentTypeFactory,
    ClinicAdminFactory,
    DiagnosticReportFactory,
    ImmunizationFactory,
    MedicationFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientCategoryFactory,
    PatientIdentifierFactory,
    PoolFactory,
    ProviderFactory,
    RefillRequestFactory,
    SignInLockFactory,
    StaffFactory,
    StaffInvitationFactory,
    UserFactory,
    VerificationRequestFactory,
    portal_settings_of,
)
from tests.fhir.smart import register
from tests.security.world import World, with_self_grant
from tests.uploads import checked, stored_document

# Hypothesis caches what it learns under .hypothesis/ in the working directory; keep the
# working tree clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "portal-security-hypothesis")


@pytest.fixture
def world(clinic, other_clinic) -> World:
    policy = portal_settings_of(clinic, booking_allowed=True, cancelling_allowed=True)

    owner_staff = StaffFactory(clinic=clinic, username="owner-super", is_superuser=True)
    victim, victim_user = with_self_grant(
        clinic,
        first_name="Verity",
        last_name="Victimson",
        username="verity",
        mobile="+16135550142",
    )
    PatientIdentifierFactory(patient=victim, number="1234567890")

    kind = AppointmentTypeFactory(clinic=clinic, name="Regular visit")
    provider = ProviderFactory(clinic=clinic, name="Dr Osei", appointment_types=[kind])
    # A week ahead (the factory's default start).
    appointment = AppointmentFactory(
        patient=victim, provider=provider, appointment_type=kind, reason="Knee pain"
    )
    pool = PoolFactory(clinic=clinic, name="Nurses", members=[owner_staff], categories=["general"])
    thread = messaging_services.thread_start(
        clinic=clinic,
        patient=victim,
        subject="Your results",
        category="general",
        body="Please call us.",
        author=owner_staff,
        attachments=[checked()],
    )
    attachment = thread.messages.get().attachments.get()
    change_request = demographics.change_request_create(
        request=None, patient=victim, requested_by=victim_user, proposed={"city": "Elsewhere"}
    )
    stranger = UserFactory(clinic=clinic, username="stranger")
    verification = VerificationRequestFactory(patient=victim, user=stranger)
    lock = SignInLockFactory(clinic=clinic, subject="f" * 64, user=victim_user, failures=3)
    category = PatientCategoryFactory(clinic=clinic, name="Family")
    invitation = invitation_send(patient=victim, channel="email", sent_by=owner_staff)
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
        "appointments.appointmentrequest": AppointmentRequestFactory(
            patient=victim, appointment_type=kind, requested_by=victim_user
        ),
        "messaging.thread": thread,
        "messaging.pool": pool,
        "messaging.attachment": attachment,
        "messaging.message": attachment.message,
        "staff.staffmember": StaffMember.objects.get(pk=owner_staff.pk),
        "staff.staffinvitation": StaffInvitationFactory(clinic=clinic, sent_by=owner_staff),
        "fhir_api.smartclient": register(clinic),
        "fhir_api.identifiersystem": IdentifierSystem.objects.create(
            clinic=clinic,
            id_type=IdentifierType.objects.for_clinic(clinic).get(code="mrn"),
            system="urn:oid:1.2.3.4",
        ),
        "records.diagnosticreport": DiagnosticReportFactory(patient=victim),
        "records.observation": ObservationFactory(patient=victim),
        "records.medication": MedicationFactory(patient=victim),
        "records.medication#statement": MedicationFactory(
            patient=victim, kind=Medication.Kind.STATEMENT
        ),
        "records.allergyintolerance": AllergyFactory(patient=victim),
        "records.immunization": ImmunizationFactory(patient=victim),
        "records.document": stored_document(victim),
        "records.releaserule": ReleaseRule.objects.create(
            clinic=clinic, category="lab", mode=ReleaseRule.Mode.AT_ONCE
        ),
    }
    rows["records.refillrequest"] = RefillRequestFactory(
        medication=rows["records.medication"], requested_by=victim_user
    )

    # The people who must not reach them.
    other, other_user = with_self_grant(
        clinic, first_name="Olive", last_name="Otherby", username="olive"
    )
    rex_chart, rex = with_self_grant(clinic, first_name="Rex", last_name="Revoked", username="rex")
    rows["patients.patientaccess"] = PatientAccessFactory(
        user=rex,
        patient=victim,
        relationship="spouse",
        revoked_at=timezone.now() - dt.timedelta(days=1),
    )
    # A live representative's grant: the one whose scopes staff change in the admin.
    rows["patients.patientaccess#live"] = PatientAccessFactory(
        user=UserFactory(clinic=clinic, username="lina", first_name="Lina"),
        patient=victim,
        relationship="carer",
    )
    rhea = UserFactory(clinic=clinic, username="rhea", first_name="Rhea")
    PatientAccessFactory(
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
