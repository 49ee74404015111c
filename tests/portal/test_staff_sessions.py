"""Staff sessions end: idle (the clinic's setting), after an absolute limit, everywhere on
request, and when the account's access changes."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from clinics.roles import CLINIC_ADMIN
from portal.audit.models import AuditEvent
from tests.clients import staff_client
from tests.factories import UserFactory, portal_settings_of

pytestmark = pytest.mark.django_db

ADMIN = "/admin/"


def _signed_in(client):
    return client.get(ADMIN).status_code == 200


def test_a_staff_session_ends_after_the_default_15_idle_minutes(clinic, front_desk, frozen):
    client = staff_client(front_desk)
    frozen.shift(dt.timedelta(minutes=14))
    assert _signed_in(client)
    frozen.shift(dt.timedelta(minutes=15, seconds=1))
    response = client.get("/admin/patients/patient/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=%2Fadmin%2Fpatients%2Fpatient%2F"
    assert not _signed_in(client)
    assert AuditEvent.objects.filter(action="signout.idle", actor=front_desk).exists()


def test_eleven_hours_fifty_idle_no_longer_opens_the_patient_list(clinic, front_desk, frozen):
    client = staff_client(front_desk)
    frozen.shift(dt.timedelta(hours=11, minutes=50))
    assert client.get("/admin/patients/patient/").status_code == 302


def test_the_clinic_sets_its_staff_idle_timeout(clinic, front_desk, frozen):
    portal_settings_of(clinic, staff_idle_timeout_minutes=60)
    client = staff_client(front_desk)
    frozen.shift(dt.timedelta(minutes=59))
    assert _signed_in(client)
    frozen.shift(dt.timedelta(minutes=60, seconds=1))
    assert not _signed_in(client)


@pytest.mark.parametrize("minutes", [4, 241])
def test_the_staff_idle_timeout_is_bounded(clinic, minutes):
    row = clinic.portal_settings
    row.staff_idle_timeout_minutes = minutes
    with pytest.raises(ValidationError):
        row.full_clean()


def test_the_settings_page_refuses_an_unbounded_timeout(clinic, clinic_admin):
    client = staff_client(clinic_admin)
    url = f"/admin/clinics/portalsettings/{clinic.portal_settings.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    data["staff_idle_timeout_minutes"] = 600
    response = client.post(url, data)
    assert response.status_code == 200
    assert "staff_idle_timeout_minutes" in response.context["adminform"].form.errors


def test_an_active_session_still_ends_after_the_absolute_limit(clinic, front_desk, frozen):
    client = staff_client(front_desk)
    for _ in range(11 * 6 + 5):
        frozen.shift(dt.timedelta(minutes=10))
        assert _signed_in(client)
    frozen.shift(dt.timedelta(minutes=10, seconds=1))
    assert not _signed_in(client)
    assert AuditEvent.objects.filter(action="signout.expired").exists()


def test_operators_time_out_too(db, frozen, settings):
    operator = UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)
    client = staff_client(operator, host="localhost")
    assert _signed_in(client)
    frozen.shift(dt.timedelta(minutes=settings.PORTAL_OPERATOR_IDLE_MINUTES, seconds=1))
    assert not _signed_in(client)


def test_sign_out_everywhere_ends_every_session(clinic, front_desk):
    laptop, phone = staff_client(front_desk), staff_client(front_desk)
    assert laptop.get("/admin/account/").status_code == 200
    assert phone.post("/admin/account/sign-out-everywhere/").status_code == 302
    assert not _signed_in(laptop)
    assert not _signed_in(phone)
    assert AuditEvent.objects.filter(action="signout.all_devices", actor=front_desk).exists()


def test_a_clinic_admin_signs_a_colleague_out_everywhere(clinic, clinic_admin, front_desk):
    desk = staff_client(front_desk)
    # Signed in, and the account read once: it is in the shared cache now. The admin's
    # action saves it through a proxy model (StaffMember); the cache must follow at once.
    assert _signed_in(desk)
    staff_client(clinic_admin).post(
        "/admin/staff/staffmember/",
        {"action": "end_sessions", "_selected_action": [front_desk.pk]},
    )
    assert not _signed_in(desk)
    assert AuditEvent.objects.filter(action="staff.sessions_ended", actor=clinic_admin).exists()


def test_deactivating_a_staff_account_ends_its_sessions_for_good(clinic, front_desk):
    client = staff_client(front_desk)
    front_desk.is_active = False
    front_desk.save(update_fields=["is_active"])
    assert not _signed_in(client)
    front_desk.is_active = True
    front_desk.save(update_fields=["is_active"])
    assert not _signed_in(client)


def test_a_bulk_deactivation_ends_sessions(clinic, front_desk):
    client = staff_client(front_desk)
    type(front_desk).objects.filter(pk=front_desk.pk).update(is_staff=False)
    type(front_desk).objects.filter(pk=front_desk.pk).update(is_staff=True)
    assert not _signed_in(client)


def test_a_role_change_ends_the_sessions(clinic, front_desk):
    client = staff_client(front_desk)
    front_desk.groups.add(Group.objects.get(name=CLINIC_ADMIN))
    assert not _signed_in(client)


def test_a_role_removed_from_the_group_side_ends_the_sessions(clinic, clinic_admin):
    client = staff_client(clinic_admin)
    Group.objects.get(name=CLINIC_ADMIN).user_set.remove(clinic_admin)
    assert client.get(ADMIN).status_code == 302


def test_the_operator_editing_a_name_leaves_sessions_alone(clinic, front_desk):
    operator = UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)
    desk = staff_client(front_desk)
    client = staff_client(operator, host="localhost")
    url = f"/admin/clinics/user/{front_desk.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    data.update(first_name="Fiona", groups=[g.pk for g in front_desk.groups.all()])
    data.update(is_active="on", is_staff="on", last_login_0="", last_login_1="")
    data.update(date_joined_0="2030-01-01", date_joined_1="00:00:00")
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    front_desk.refresh_from_db()
    assert front_desk.first_name == "Fiona"
    assert _signed_in(desk)

    data["is_staff"] = ""
    client.post(url, data)
    assert not _signed_in(desk)
