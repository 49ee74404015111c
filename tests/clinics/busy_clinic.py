"""A clinic with a row in every list of its admin, each coded field holding a value whose
code differs from its label: for the walks over every changelist (labels, widths)."""

import datetime

from django.utils import timezone

from appointments.models import Appointment, AppointmentRequest, AvailabilityException
from clinics.models import IdentifierType
from fhir_api.models import IdentifierSystem, SmartClient
from fhir_api.smart import smart_client_register
from invitations.models import Invitation
from messaging.models import Message, Pool, PoolCategory, Side, Thread
from patients.models import ChangeRequest, SignInLock, VerificationRequest
from portal.audit.actions import ACTION_LABELS
from portal.audit.services import audit_record
from portal.notifications.models import Notification
from portal.notifications.registry import _labels as TEMPLATE_LABELS  # noqa: N812
from records.models import ReleaseRule
from tests.factories import (
    AllergyFactory,
    AppointmentTypeFactory,
    DiagnosticReportFactory,
    DocumentFactory,
    ImmunizationFactory,
    MedicationFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientCategoryFactory,
    PatientFactory,
    PatientIdentifierFactory,
    ProviderFactory,
    RefillRequestFactory,
    StaffInvitationFactory,
    UserFactory,
    WeeklyAvailabilityFactory,
)


def a_busy_clinic(clinic, staff):
    """Rows of every kind at ``clinic``; ``staff`` (a clinic admin) sent and decided."""
    now = timezone.now()
    provider = ProviderFactory(clinic=clinic, name="Dr Amelia Tremblay-Fitzgerald")
    visit = AppointmentTypeFactory(clinic=clinic, name="Prescription renewal")
    WeeklyAvailabilityFactory(provider=provider)
    AvailabilityException.objects.create(
        clinic=clinic,
        provider=provider,
        date=now.date(),
        kind=AvailabilityException.Kind.EXTRA,
        start_time=datetime.time(18),
        end_time=datetime.time(19),
    )
    category = PatientCategoryFactory(clinic=clinic, name="Rostered")
    patient = PatientFactory(
        clinic=clinic,
        first_name="Olivia",
        last_name="Martin-Beauchemin",
        category=category,
        primary_provider=provider,
    )
    PatientIdentifierFactory(patient=patient)
    parent = PatientAccessFactory(
        patient=patient,
        relationship="parent",
        user=UserFactory(clinic=clinic, username="parent", email="parent@example.com"),
    )
    Invitation.objects.create(
        clinic=clinic,
        patient=patient,
        relationship="guardian",
        channel="sms",
        destination="+16135550123",
        expires_at=now + datetime.timedelta(days=3),
        sent_by=staff,
    )
    verification = VerificationRequest.objects.create(
        clinic=clinic,
        patient=patient,
        user=parent.user,
        channel="sms",
        destination="+16135550188",
    )
    ChangeRequest.objects.create(
        clinic=clinic,
        patient=patient,
        kind="verification",
        verification=verification,
        requested_by=parent.user,
    )
    ChangeRequest.objects.create(clinic=clinic, patient=patient, kind="registration")
    AppointmentRequest.objects.create(
        clinic=clinic,
        patient=patient,
        appointment_type=visit,
        provider=provider,
        preferred_days=["wed"],
        preferred_times=["morning"],
    )
    nurses = Pool.objects.create(clinic=clinic, name="Nurses")
    smart_client_register(
        client=SmartClient(name="Record system", jwks={"keys": []}, scopes="system/Patient.rs"),
        clinic=clinic,
    )
    IdentifierSystem.objects.create(
        clinic=clinic,
        id_type=IdentifierType.objects.for_clinic(clinic).order_by("pk").first(),
        system="urn:oid:1.2.3.4",
    )
    PoolCategory.objects.create(clinic=clinic, pool=nurses, category="general")
    SignInLock.objects.create(
        clinic=clinic,
        subject="a" * 64,
        user=parent.user,
        failures=100,
        hard_locked=True,
        last_method="passcode",
    )
    thread = Thread.objects.create(
        clinic=clinic,
        patient=patient,
        subject="Refill of my usual prescription",
        category=Thread.Category.PRESCRIPTION_REFILL,
        last_sender_side=Side.PATIENT,
    )
    Message.objects.create(
        clinic=clinic,
        thread=thread,
        sender_side=Side.PATIENT,
        author=parent.user,
        author_name="Parent",
        author_relationship="parent",
        body="Could you renew it?",
    )
    Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        provider=provider,
        appointment_type=visit,
        start=now + datetime.timedelta(hours=1),
        end=now + datetime.timedelta(hours=1, minutes=15),
        status=Appointment.Status.NO_SHOW,
    )
    statuses = [s for s, _label in Notification.Status.choices]
    for i, template in enumerate(sorted(TEMPLATE_LABELS)):
        Notification.objects.create(
            clinic=clinic,
            channel="sms" if i % 2 else "email",
            recipient="+16135550123" if i % 2 else "olivia.martin@example.com",
            template=template,
            status=statuses[i % len(statuses)],
            last_error="Twilio 30003: unreachable destination handset" if i == 4 else "",
        )
    for action in ["signin.success", "patient.viewed", "invitation.sent"]:
        audit_record(action=action, clinic=clinic, actor=staff, obj=patient, acting_for=patient)
    StaffInvitationFactory(clinic=clinic, sent_by=staff, role="Clinic admin")
    report = DiagnosticReportFactory(patient=patient)
    ObservationFactory(patient=patient, report=report, interpretation="H", value_quantity=7.2)
    RefillRequestFactory(medication=MedicationFactory(patient=patient))
    AllergyFactory(patient=patient)
    ImmunizationFactory(patient=patient)
    DocumentFactory(patient=patient)
    ReleaseRule.objects.create(clinic=clinic, category="laboratory", mode="after_days", days=3)
    return patient


def raw_codes(models) -> set[str]:
    """The codes staff should never read: those of the choice fields of ``models`` whose
    label differs, every notification template and audit action, and model labels."""
    codes = set()
    for model in models:
        codes.add(model._meta.label_lower)
        for field in model._meta.fields:
            for code, label in field.flatchoices:
                if isinstance(code, str) and code and code != str(label):
                    codes.add(code)
    codes |= set(TEMPLATE_LABELS) | set(ACTION_LABELS)
    return codes
