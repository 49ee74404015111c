import datetime

import factory

from appointments.models import Provider
from clinics.models import Clinic, IdentifierType, User
from clinics.roles import CLINIC_ADMIN, FRONT_DESK, ensure_roles
from clinics.services import clinic_ensure_defaults
from patients.models import Patient, PatientIdentifier

TEST_PASSWORD = "correct horse battery staple"


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


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Faker("name")


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
        model = "patients.PatientAccess"

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda o: o.patient.clinic)
    user = factory.LazyAttribute(
        lambda o: UserFactory(clinic=o.patient.clinic, email=o.patient.email)
    )
    relationship = "self"
