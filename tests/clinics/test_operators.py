"""What platform operators may do to clinics and accounts: a clinic's phone is a phone
of its country, clinics are deactivated (audited) and never deleted, and no staff account
is without a clinic, whichever way it is made."""

import pytest
from django.core.exceptions import ValidationError

from clinics.admin import OperatorUserCreationForm
from clinics.models import Clinic, User
from clinics.roles import FRONT_DESK
from clinics.services import staff_member_create
from portal.audit.models import AuditEvent
from portal.staff.onboarding import staff_invitation_accept
from tests.clients import host_client
from tests.factories import ClinicFactory, StaffInvitationFactory, UserFactory

pytestmark = pytest.mark.django_db

CLINICS = "/admin/clinics/clinic/"
USERS = "/admin/clinics/user/"


@pytest.fixture
def operator(db):
    return UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)


@pytest.fixture
def operators_admin(operator):
    return host_client("localhost", operator)


def clinic_form(clinic, **changes):
    values = {
        "slug": clinic.slug,
        "name": clinic.name,
        "display_name": "",
        "time_zone": clinic.time_zone,
        "country": clinic.country,
        "phone": "",
        "address": "",
        "notification_email": "",
        "accent_colour": clinic.accent_colour,
        "domains-TOTAL_FORMS": "0",
        "domains-INITIAL_FORMS": "0",
    }
    return {**values, **changes}


# --- The clinic's phone --------------------------------------------------------------------


def test_a_clinic_phone_typed_the_local_way_is_stored_in_e164(clinic, operators_admin):
    response = operators_admin.post(
        f"{CLINICS}{clinic.pk}/change/", clinic_form(clinic, phone="(613) 555-0142")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    clinic.refresh_from_db()
    assert clinic.phone.as_e164 == "+16135550142"


def test_a_clinic_phone_is_read_with_the_clinics_own_country(clinic, operators_admin):
    response = operators_admin.post(
        f"{CLINICS}{clinic.pk}/change/", clinic_form(clinic, country="FR", phone="01 42 68 53 00")
    )
    assert response.status_code == 302
    clinic.refresh_from_db()
    assert clinic.phone.as_e164 == "+33142685300"


@pytest.mark.parametrize("garbage", ["call us", "555", "+1 613 555 01"])
def test_a_clinic_phone_that_is_no_phone_is_refused(clinic, operators_admin, garbage):
    response = operators_admin.post(
        f"{CLINICS}{clinic.pk}/change/", clinic_form(clinic, phone=garbage)
    )
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors


def test_the_form_shows_the_phone_the_way_the_country_writes_it(clinic, operators_admin):
    page = operators_admin.get(f"{CLINICS}{clinic.pk}/change/").content.decode()
    assert 'value="(613) 555-0100"' in page


def test_the_migration_converts_phones_and_keeps_what_it_cannot_read(db):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("clinics.migrations.0016_clinic_phone_e164")
    local = ClinicFactory(slug="local")
    Clinic.objects.filter(pk=local.pk).update(phone="613-555-0199")
    words = ClinicFactory(slug="words")
    Clinic.objects.filter(pk=words.pk).update(phone="call us")
    migration.phones_to_e164(apps, None)
    assert Clinic.objects.values_list("phone", flat=True).get(pk=local.pk) == "+16135550199"
    assert Clinic.objects.values_list("phone", flat=True).get(pk=words.pk) == "call us"


# --- Deactivating, never deleting ------------------------------------------------------------


def test_there_is_no_way_to_delete_a_clinic(clinic, operators_admin):
    page = operators_admin.get(CLINICS).content.decode()
    assert "delete_selected" not in page
    assert 'value="deactivate"' in page
    change = operators_admin.get(f"{CLINICS}{clinic.pk}/change/").content.decode()
    assert "deletelink" not in change
    assert operators_admin.get(f"{CLINICS}{clinic.pk}/delete/").status_code == 403
    operators_admin.post(f"{CLINICS}{clinic.pk}/delete/", {"post": "yes"})
    assert Clinic.objects.filter(pk=clinic.pk).exists()


def test_deactivating_and_reactivating_a_clinic_is_audited(clinic, operator, operators_admin):
    action = {"action": "deactivate", "_selected_action": [clinic.pk]}
    operators_admin.post(CLINICS, action)
    clinic.refresh_from_db()
    assert not clinic.is_active
    assert host_client("demo").get("/portal/").status_code == 404
    operators_admin.post(CLINICS, {**action, "action": "reactivate"})
    clinic.refresh_from_db()
    assert clinic.is_active
    events = AuditEvent.objects.filter(clinic=clinic, actor=operator).order_by("pk")
    assert [e.action for e in events] == ["clinic.deactivated", "clinic.reactivated"]


def test_the_form_does_not_switch_a_clinic_off_unaudited(clinic, operators_admin):
    operators_admin.post(f"{CLINICS}{clinic.pk}/change/", clinic_form(clinic, is_active=""))
    clinic.refresh_from_db()
    assert clinic.is_active


# --- No staff without a clinic ---------------------------------------------------------------


def test_the_model_refuses_a_staff_member_without_a_clinic(db):
    with pytest.raises(ValidationError) as refused:
        User(username="loose", is_staff=True).full_clean()
    assert "clinic" in refused.value.message_dict


def test_the_model_lets_operators_and_patients_be_without_a_clinic(db):
    User(username="op2", is_staff=True, is_superuser=True).validate_staff_clinic()
    User(username="nobody", is_staff=False).validate_staff_clinic()


def test_the_staff_service_refuses_to_create_staff_without_a_clinic(db):
    with pytest.raises(ValidationError):
        staff_member_create(
            clinic=None, username="loose", password="x-long-pass-1", role=FRONT_DESK
        )
    assert not User.objects.filter(username="loose").exists()


def test_the_operators_add_form_requires_a_clinic(db):
    # The operators' admin sends "Add user" to a staff invitation (which always names a
    # clinic); the form keeps the rule for any admin that uses it.
    form = OperatorUserCreationForm(
        data={
            "clinic": "",
            "username": "loose",
            "email": "loose@example.com",
            "password1": "a-long-enough-pass-2026",
            "password2": "a-long-enough-pass-2026",
            "usable_password": "true",
        }
    )
    assert not form.is_valid()
    assert "clinic" in form.errors


def test_an_accepted_staff_invitation_makes_an_account_of_its_clinic(clinic):
    invitation = StaffInvitationFactory(clinic=clinic)
    user = staff_invitation_accept(invitation=invitation, password="a-long-enough-pass-2026")
    assert user.is_staff and user.clinic_id == clinic.pk


def test_the_operators_change_form_cannot_take_a_staff_members_clinic_away(
    clinic, front_desk, operators_admin
):
    response = operators_admin.post(
        f"{USERS}{front_desk.pk}/change/",
        {
            "clinic": "",
            "username": front_desk.username,
            "email": front_desk.email,
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    assert "clinic" in response.context["adminform"].form.errors
    front_desk.refresh_from_db()
    assert front_desk.clinic_id == clinic.pk
