"""factory_boy factories: one per model the tests make rows of.

Rows whose making is itself behaviour are built through their service instead: a thread
and its first message through ``messaging.services.thread_start``, an invitation through
``invitations.services.invitation_send``, a booking through
``appointments.services.appointment_book``, a change request through
``patients.demographics.change_request_create``, an audit event through
``portal.audit.services.audit_record``. The factories make the rows a test starts from.
"""

import datetime

import factory
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from appointments.models import (
    Appointment,
    AppointmentRequest,
    AppointmentType,
    AvailabilityException,
    Provider,
    WeeklyAvailability,
)
from clinics.models import Clinic, ClinicDomain, IdentifierType, User
from clinics.roles import CLINIC_ADMIN, FRONT_DESK, ensure_roles
from clinics.services import clinic_ensure_defaults
from messaging.models import Attachment, Message, Pool, PoolCategory, Side, Thread
from patients.models import (
    PasscodeDevice,
    Patient,
    PatientAccess,
    PatientCategory,
    PatientIdentifier,
    SignInLock,
    VerificationRequest,
)
from portal.notifications.models import Notification
from portal.staff.models import StaffInvitation
from records import models as records_models

TEST_PASSWORD = "correct horse battery staple"


# --- Clinics and people ------------------------------------------------------------------


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ["slug"]
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"clinic{n}")
    name = factory.LazyAttribute(lambda o: f"{o.slug.title()} Clinic")
    phone = "+1 613 555 0100"

    @factory.post_generation
    def defaults(obj, create, extracted, **kwargs):
        if create:
            clinic_ensure_defaults(clinic=obj)


def portal_settings_of(clinic, **values):
    """The clinic's portal settings with ``values`` set and saved (what its admin does)."""
    settings_row = clinic.portal_settings
    for field, value in values.items():
        setattr(settings_row, field, value)
    settings_row.save()
    return settings_row


class ClinicDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicDomain

    clinic = factory.SubFactory(ClinicFactory)
    domain = factory.Sequence(lambda n: f"portal{n}.clinic.example")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or TEST_PASSWORD)
        if create:
            obj.save(update_fields=["password"])


def _role_group(name):
    from django.contrib.auth.models import Group

    if not Group.objects.filter(name=name).exists():
        ensure_roles()  # a transactional test flushed the migration's groups
    return Group.objects.get(name=name)


class StaffFactory(UserFactory):
    is_staff = True

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        if create:
            obj.groups.add(_role_group(extracted or FRONT_DESK))


class ClinicAdminFactory(StaffFactory):
    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        if create:
            obj.groups.add(_role_group(extracted or CLINIC_ADMIN))


def named(user, first_name, last_name):
    """``user``, given a name the pages can show (saved)."""
    user.first_name, user.last_name = first_name, last_name
    user.save(update_fields=["first_name", "last_name"])
    return user


class TOTPDeviceFactory(factory.django.DjangoModelFactory):
    """An authenticator the account has enrolled (confirmed)."""

    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Authenticator"
    confirmed = True


def backup_codes_for(user, codes=("backup-one", "backup-two")):
    """``user``'s backup codes (django-otp's static device), as after enrolment."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return device


def current_totp_code(device) -> str:
    """The code ``device``'s authenticator app shows now."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


class AdminLogEntryFactory(factory.django.DjangoModelFactory):
    """A line of the admin's history: ``user`` changed ``obj``."""

    class Meta:
        model = LogEntry

    class Params:
        obj = None

    user = factory.SubFactory(UserFactory)
    content_type = factory.LazyAttribute(lambda o: ContentType.objects.get_for_model(o.obj))
    object_id = factory.LazyAttribute(lambda o: str(o.obj.pk))
    object_repr = factory.LazyAttribute(lambda o: str(o.obj)[:200])
    action_flag = CHANGE


# --- Charts, grants and sign-in ----------------------------------------------------------


class PatientCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientCategory

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Category {n}")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = datetime.date(1980, 5, 17)
    email = factory.Sequence(lambda n: f"patient{n}@example.com")


class PatientIdentifierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientIdentifier

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.clinic)
    id_type = factory.LazyAttribute(
        lambda o: IdentifierType.objects.for_clinic(o.clinic).get(code="health-card")
    )
    number = factory.Sequence(lambda n: f"{9000000000 + n}")


class PatientAccessFactory(factory.django.DjangoModelFactory):
    """A portal account with a live grant to a chart (``self`` unless told)."""

    class Meta:
        model = PatientAccess

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.clinic)
    # The patient's own account unless told: their name and email.
    user = factory.SubFactory(
        UserFactory,
        clinic=factory.SelfAttribute("..patient.clinic"),
        first_name=factory.SelfAttribute("..patient.first_name"),
        last_name=factory.SelfAttribute("..patient.last_name"),
        email=factory.SelfAttribute("..patient.email"),
    )
    relationship = "self"


class VerificationRequestFactory(factory.django.DjangoModelFactory):
    """Someone (``user``) proved a contact that is not on the chart: pending."""

    class Meta:
        model = VerificationRequest

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.clinic)
    user = factory.LazyAttribute(lambda o: UserFactory(clinic=o.patient.clinic))
    channel = "email"
    destination = factory.LazyAttribute(lambda o: o.user.email)


class PasscodeDeviceFactory(factory.django.DjangoModelFactory):
    """A one-time passcode device with no code yet (``issue_code`` gives one)."""

    class Meta:
        model = PasscodeDevice

    clinic = factory.SubFactory(ClinicFactory)
    name = "signin"
    purpose = PasscodeDevice.Purpose.SIGN_IN
    channel = "sms"
    destination = "+16135550123"
    valid_until = factory.LazyFunction(timezone.now)


class SignInLockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SignInLock

    clinic = factory.SubFactory(ClinicFactory)
    subject = factory.Sequence(lambda n: f"{n:064x}")


# --- Appointments ------------------------------------------------------------------------


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType

    clinic = factory.SubFactory(ClinicFactory)
    name = "Regular visit"
    duration_minutes = 15


class ProviderFactory(factory.django.DjangoModelFactory):
    """``appointment_types=[...]``: what patients may book with them;
    ``weekly_hours=(start, end)``: the hours they work Monday to Friday, or
    ``(start, end, weekdays)`` on those days of the week (0 is Monday)."""

    class Meta:
        model = Provider
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Faker("name")

    @factory.post_generation
    def appointment_types(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.appointment_types.add(*extracted)

    @factory.post_generation
    def weekly_hours(obj, create, extracted, **kwargs):
        if create and extracted:
            start_time, end_time, *days = extracted
            for weekday in days[0] if days else range(5):
                WeeklyAvailabilityFactory(
                    provider=obj, weekday=weekday, start_time=start_time, end_time=end_time
                )


class WeeklyAvailabilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeeklyAvailability

    provider = factory.SubFactory(ProviderFactory)
    clinic = factory.LazyAttribute(lambda o: o.provider.clinic)
    weekday = WeeklyAvailability.Weekday.MONDAY
    start_time = datetime.time(9)
    end_time = datetime.time(12)


class AvailabilityExceptionFactory(factory.django.DjangoModelFactory):
    """Time off (the whole day unless times are given) or, with ``kind="extra"``, extra
    hours."""

    class Meta:
        model = AvailabilityException

    provider = factory.SubFactory(ProviderFactory)
    clinic = factory.LazyAttribute(lambda o: o.provider.clinic)
    kind = AvailabilityException.Kind.TIME_OFF


class AppointmentFactory(factory.django.DjangoModelFactory):
    """A visit written as the clinic's system would have it (not booked through the
    portal: ``appointment_book`` does that). Ends ``appointment_type``'s length after
    ``start`` unless told."""

    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.clinic)
    provider = factory.SubFactory(ProviderFactory, clinic=factory.SelfAttribute("..clinic"))
    appointment_type = factory.SubFactory(
        AppointmentTypeFactory, clinic=factory.SelfAttribute("..clinic")
    )
    start = factory.LazyFunction(
        lambda: timezone.now().replace(microsecond=0) + datetime.timedelta(days=7)
    )
    end = factory.LazyAttribute(
        lambda o: o.start + datetime.timedelta(minutes=o.appointment_type.duration_minutes)
    )


class AppointmentRequestFactory(factory.django.DjangoModelFactory):
    """A patient's waiting request for a visit (as ``appointment_request_create`` leaves
    it, without its rules or audit: use the service where they matter)."""

    class Meta:
        model = AppointmentRequest

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.clinic)
    appointment_type = factory.SubFactory(
        AppointmentTypeFactory, clinic=factory.SelfAttribute("..clinic")
    )


# --- Messages ----------------------------------------------------------------------------


class ThreadFactory(factory.django.DjangoModelFactory):
    """A thread row without its messages (``thread_start`` writes both)."""

    class Meta:
        model = Thread

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.clinic)
    subject = factory.Sequence(lambda n: f"Subject {n}")
    last_sender_side = Side.STAFF


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    thread = factory.SubFactory(ThreadFactory)
    clinic = factory.LazyAttribute(lambda o: o.thread.clinic)
    sender_side = Side.STAFF
    author_name = "Fiona Desk"
    body = "Hello"


class AttachmentFactory(factory.django.DjangoModelFactory):
    """An attachment row (its file is not written)."""

    class Meta:
        model = Attachment

    message = factory.SubFactory(MessageFactory)
    clinic = factory.LazyAttribute(lambda o: o.message.clinic)
    file = factory.LazyAttribute(lambda o: f"{o.clinic.pk}/missing")
    original_name = "scan.pdf"
    content_type = "application/pdf"
    size = 100


class PoolFactory(factory.django.DjangoModelFactory):
    """A pool of staff; ``categories=[...]`` routes those categories to it."""

    class Meta:
        model = Pool
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Pool {n}")

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.members.set(extracted)

    @factory.post_generation
    def categories(self, create, extracted, **kwargs):
        if create and extracted:
            PoolCategory.objects.bulk_create(
                PoolCategory(clinic=self.clinic, pool=self, category=c) for c in extracted
            )


# --- Notifications -----------------------------------------------------------------------


class NotificationFactory(factory.django.DjangoModelFactory):
    """An outbox row, pending unless told (``notify`` writes one and sends it after
    commit; tests that drive the sender start from the row)."""

    class Meta:
        model = Notification

    clinic = factory.SubFactory(ClinicFactory)
    channel = Notification.Channel.EMAIL
    recipient = factory.LazyAttribute(
        lambda o: "patient@example.com" if o.channel == "email" else "+16135550123"
    )
    template = "staff_test"


class StaffInvitationFactory(factory.django.DjangoModelFactory):
    """A staff invitation waiting to be used (no email: ``portal.staff.onboarding``
    sends real ones)."""

    class Meta:
        model = StaffInvitation

    clinic = factory.SubFactory(ClinicFactory)
    username = factory.Sequence(lambda n: f"invited{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = FRONT_DESK
    expires_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(hours=72))


# --- The health record ----------------------------------------------------------------------


class _RecordFactory(factory.django.DjangoModelFactory):
    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.clinic)
    date = factory.LazyFunction(timezone.now)
    received_at = factory.LazyFunction(timezone.now)


class DiagnosticReportFactory(_RecordFactory):
    """A final laboratory report, shown at once (whatever the clinic's rules: the
    factory sets ``release_at``; services compute it)."""

    class Meta:
        model = records_models.DiagnosticReport

    code_system = "http://loinc.org"
    code = "24323-8"
    display = "Comprehensive metabolic panel"
    category = "lab"
    status = "final"
    issued = factory.LazyFunction(timezone.now)
    release_at = factory.LazyFunction(timezone.now)


class ObservationFactory(_RecordFactory):
    class Meta:
        model = records_models.Observation

    code_system = "http://loinc.org"
    code = "2345-7"
    display = "Glucose"
    category = "laboratory"
    status = "final"
    value_quantity = 5.4
    value_unit = "mmol/L"
    range_low = 3.9
    range_high = 6.1
    interpretation = "N"
    issued = factory.LazyFunction(timezone.now)
    release_at = factory.LazyFunction(timezone.now)


class MedicationFactory(_RecordFactory):
    class Meta:
        model = records_models.Medication

    kind = records_models.Medication.Kind.REQUEST
    display = "Metformin 500 mg tablet"
    status = "active"
    intent = "order"
    dosage = "1 tablet twice a day"
    refills_allowed = 3


class RefillRequestFactory(factory.django.DjangoModelFactory):
    """A patient's waiting refill request for an active prescription (as
    ``refill_request_create`` leaves it, without its rules or audit: use the service
    where they matter)."""

    class Meta:
        model = records_models.RefillRequest

    medication = factory.SubFactory(MedicationFactory)
    patient = factory.LazyAttribute(lambda o: o.medication.patient)
    clinic = factory.LazyAttribute(lambda o: o.medication.clinic)
    pharmacy_note = "Main Street Pharmacy"


class AllergyFactory(_RecordFactory):
    class Meta:
        model = records_models.AllergyIntolerance

    display = "Penicillin"
    clinical_status = "active"
    verification_status = "confirmed"
    criticality = "high"
    reactions = "Hives"


class ImmunizationFactory(_RecordFactory):
    class Meta:
        model = records_models.Immunization

    display = "Influenza vaccine"
    status = "completed"


class DocumentFactory(_RecordFactory):
    """A document row (its file is not written)."""

    class Meta:
        model = records_models.Document

    kind = records_models.Document.Kind.VISIT_SUMMARY
    title = "Visit summary"
    status = "current"
    file = factory.LazyAttribute(lambda o: f"{o.clinic.pk}/missing")
    size = 100
    sha1 = "0" * 40
