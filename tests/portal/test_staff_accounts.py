"""Clinic admins (and operators) see and lift staff sign-in locks."""

import pytest
from django.conf import settings as django_settings

from portal.audit.models import AuditEvent
from tests.clients import admin_sign_in, host_client, staff_client
from tests.factories import TEST_PASSWORD, ClinicAdminFactory, UserFactory

pytestmark = pytest.mark.django_db

STAFF_LIST = "/admin/staff/staffmember/"


def _lock(username, host="demo"):
    client = host_client(host)
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        admin_sign_in(client, username, "wrong password")


def _unlock(client, member, url=STAFF_LIST):
    return client.post(url, {"action": "unlock_sign_in", "_selected_action": [member.pk]})


def test_a_clinic_admin_sees_the_lock_and_lifts_it(clinic, clinic_admin, front_desk):
    _lock("frontdesk")
    client = staff_client(clinic_admin)
    page = client.get(STAFF_LIST)
    assert page.status_code == 200
    row = next(r for r in page.context["cl"].result_list if r.pk == front_desk.pk)
    assert row.signin_failures >= django_settings.AXES_FAILURE_LIMIT

    assert _unlock(client, front_desk).status_code == 302
    assert admin_sign_in(host_client("demo"), "frontdesk", TEST_PASSWORD).status_code == 302
    event = AuditEvent.objects.get(action="staff.signin_unlocked")
    assert (event.actor, event.object_id) == (clinic_admin, str(front_desk.pk))


def test_the_staff_list_is_pinned_in_queries(clinic, clinic_admin, django_assert_max_num_queries):
    for n in range(15):
        ClinicAdminFactory(clinic=clinic, username=f"colleague{n}")
    client = staff_client(clinic_admin)
    client.get(STAFF_LIST)
    with django_assert_max_num_queries(12):
        assert client.get(STAFF_LIST).status_code == 200


def test_front_desk_cannot_unlock_even_with_a_forged_post(clinic, front_desk):
    colleague = UserFactory(clinic=clinic, username="colleague", is_staff=True)
    _lock("colleague")
    response = _unlock(staff_client(front_desk), colleague)
    assert response.status_code == 403
    assert admin_sign_in(host_client("demo"), "colleague", TEST_PASSWORD).status_code == 200


def test_a_clinic_admin_cannot_unlock_another_clinic_admin(clinic, clinic_admin):
    other_admin = ClinicAdminFactory(clinic=clinic, username="otheradmin")
    _lock("otheradmin")
    _unlock(staff_client(clinic_admin), other_admin)
    assert admin_sign_in(host_client("demo"), "otheradmin", TEST_PASSWORD).status_code == 200
    assert not AuditEvent.objects.filter(action="staff.signin_unlocked").exists()


def test_staff_of_another_clinic_are_not_listed_or_unlocked(
    clinic, clinic_admin, other_clinic, outsider_staff
):
    outsider = UserFactory(clinic=other_clinic, username="northdesk", is_staff=True)
    _lock("northdesk", host="northside")
    client = staff_client(clinic_admin)
    assert outsider.username not in client.get(STAFF_LIST).content.decode()
    assert client.get(f"{STAFF_LIST}{outsider.pk}/change/").status_code == 404
    _unlock(client, outsider)
    assert admin_sign_in(host_client("northside"), "northdesk", TEST_PASSWORD).status_code == 200


def test_an_operator_unlocks_a_clinic_admin(clinic, clinic_admin):
    operator = UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)
    _lock("clinicadmin")
    client = host_client("localhost", operator)
    _unlock(client, clinic_admin, url="/admin/clinics/user/")
    assert admin_sign_in(host_client("demo"), "clinicadmin", TEST_PASSWORD).status_code == 302
    assert AuditEvent.objects.filter(action="staff.signin_unlocked", actor=operator).exists()
