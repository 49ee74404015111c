"""A staff member whose password the operator marked "must change" changes it first."""

import pytest

from portal.audit.models import AuditEvent
from tests.clients import admin_sign_in, host_client, staff_client
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW = "a brand new staff passphrase 42"
PASSWORD_PAGE = "/admin/account/password/"


@pytest.fixture
def must_change(front_desk):
    front_desk.must_change_password = True
    front_desk.save(update_fields=["must_change_password"])
    return front_desk


def _change(client, old=TEST_PASSWORD, new=NEW):
    return client.post(
        PASSWORD_PAGE, {"old_password": old, "new_password1": new, "new_password2": new}
    )


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/patients/patient/", "/admin/account/", "/admin/password_change/"]
)
def test_every_admin_page_leads_to_the_password_change(clinic, must_change, path):
    client = host_client("demo")
    assert admin_sign_in(client, "frontdesk", TEST_PASSWORD).status_code == 302
    response = client.get(path, follow=True)
    assert response.redirect_chain[-1][0] == PASSWORD_PAGE
    assert "choose a new password of your own" in response.content.decode()


def test_a_forged_post_elsewhere_is_turned_back(clinic, must_change):
    client = staff_client(must_change)
    response = client.post("/admin/patients/patient/add/", {"first_name": "Mallory"})
    assert response.status_code == 302
    assert response["Location"] == PASSWORD_PAGE


def test_sign_out_stays_open(clinic, must_change):
    client = staff_client(must_change)
    assert client.post("/admin/logout/").status_code == 200
    assert client.get("/admin/").status_code == 302


def test_changing_it_clears_the_flag_and_keeps_this_session(clinic, must_change):
    client = staff_client(must_change)
    other_device = staff_client(must_change)
    assert _change(client).status_code == 302
    must_change.refresh_from_db()
    assert not must_change.must_change_password
    assert must_change.check_password(NEW)
    assert client.get("/admin/patients/patient/").status_code == 200
    assert other_device.get("/admin/").status_code == 302
    assert AuditEvent.objects.filter(action="password.changed", actor=must_change).exists()


def test_a_wrong_current_password_or_a_weak_one_changes_nothing(clinic, must_change):
    client = staff_client(must_change)
    assert _change(client, old="not it").status_code == 200
    assert _change(client, new="password").status_code == 200
    must_change.refresh_from_db()
    assert must_change.must_change_password
    assert must_change.check_password(TEST_PASSWORD)


def test_operators_are_held_to_it_too(db):
    operator = UserFactory(
        clinic=None, username="op", is_staff=True, is_superuser=True, must_change_password=True
    )
    client = staff_client(operator, host="localhost")
    response = client.get("/admin/clinics/clinic/")
    assert response["Location"] == PASSWORD_PAGE


def test_the_operator_sets_the_flag_in_the_users_admin(clinic, front_desk):
    operator = UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)
    client = staff_client(operator, host="localhost")
    page = client.get(f"/admin/clinics/user/{front_desk.pk}/change/").content.decode()
    assert 'name="must_change_password"' in page
