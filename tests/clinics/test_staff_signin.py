"""Staff and operator sign-in to the admin: throttled (django-axes), one answer whatever
is wrong, the second factor looked at only after the password and the throttle."""

import datetime as dt
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import base_user

from clinics.backends import ClinicBackend
from portal.audit.models import AuditEvent
from tests.clients import admin_sign_in, host_client, page_without_csrf
from tests.factories import TEST_PASSWORD, TOTPDeviceFactory, UserFactory, current_totp_code

pytestmark = pytest.mark.django_db

WRONG = "not the password at all"


def _fail(client, username, times):
    for _ in range(times):
        response = admin_sign_in(client, username, WRONG)
        assert response.status_code == 200
    return response


def test_the_41st_wrong_password_is_refused_without_being_checked(clinic, front_desk):
    client = host_client("demo")
    _fail(client, "frontdesk", 40)
    with (
        mock.patch.object(
            ClinicBackend, "authenticate", autospec=True, side_effect=ClinicBackend.authenticate
        ) as backend,
        mock.patch.object(base_user, "check_password", wraps=base_user.check_password) as hasher,
    ):
        response = admin_sign_in(client, "frontdesk", WRONG)
    assert backend.call_count == 0
    assert hasher.call_count == 0
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_the_throttle_counts_before_the_password_is_checked(clinic, front_desk):
    client = host_client("demo")
    limit = django_settings.AXES_FAILURE_LIMIT
    _fail(client, "frontdesk", limit - 1)
    with mock.patch.object(base_user, "check_password", wraps=base_user.check_password) as hasher:
        admin_sign_in(client, "frontdesk", WRONG)
        assert hasher.call_count == 1
        response = admin_sign_in(client, "frontdesk", TEST_PASSWORD)
        assert hasher.call_count == 1
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_another_spelling_of_the_account_counts_against_the_same_lock(clinic, front_desk):
    client = host_client("demo")
    limit = django_settings.AXES_FAILURE_LIMIT
    _fail(client, "FrontDesk", limit - 1)
    _fail(client, front_desk.email.upper(), 1)
    response = admin_sign_in(
        host_client("demo", REMOTE_ADDR="10.0.0.9"), "frontdesk", TEST_PASSWORD
    )
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_the_same_username_at_another_clinic_is_not_locked(clinic, other_clinic, front_desk):
    outsider = UserFactory(clinic=other_clinic, username="frontdesk", is_staff=True)
    _fail(host_client("demo"), "frontdesk", django_settings.AXES_FAILURE_LIMIT)
    response = admin_sign_in(host_client("northside"), outsider.username, TEST_PASSWORD)
    assert response.status_code == 302


def test_one_source_is_locked_after_many_accounts_fail(clinic, front_desk, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.PORTAL_STAFF_SIGNIN_SOURCE_LIMIT = 12
    client = host_client("demo")
    for n in range(12):
        admin_sign_in(client, f"someone{n}", WRONG)
    response = admin_sign_in(client, "frontdesk", TEST_PASSWORD)
    assert "Too many failed sign-in attempts" in response.content.decode()
    elsewhere = host_client("demo", REMOTE_ADDR="10.0.0.9")
    assert admin_sign_in(elsewhere, "frontdesk", TEST_PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(clinic, front_desk, frozen):
    client = host_client("demo")
    _fail(client, "frontdesk", django_settings.AXES_FAILURE_LIMIT)
    frozen.shift(django_settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))
    assert admin_sign_in(client, "frontdesk", TEST_PASSWORD).status_code == 200
    frozen.shift(dt.timedelta(seconds=2))
    assert admin_sign_in(client, "frontdesk", TEST_PASSWORD).status_code == 302


def test_locking_an_account_is_audited_once(clinic, front_desk):
    client = host_client("demo")
    _fail(client, "frontdesk", django_settings.AXES_FAILURE_LIMIT + 3)
    events = AuditEvent.objects.filter(action="staff.signin_locked")
    assert events.count() == 1
    assert events.get().object_id == str(front_desk.pk)
    assert events.get().clinic == clinic


def test_what_was_typed_is_not_stored(clinic, front_desk):
    client = host_client("demo")
    admin_sign_in(client, "frontdesk", "my-secret-guess", code="123456")
    admin_sign_in(client, "my-password-in-the-username-box", "x")
    for attempt in AccessAttempt.objects.all():
        stored = f"{attempt.username} {attempt.post_data} {attempt.get_data}"
        assert "my-secret-guess" not in stored
        assert "123456" not in stored
        assert "my-password-in-the-username-box" not in stored


# --- One answer under a required second factor ------------------------------------------------


@pytest.fixture
def enrolled(front_desk, settings):
    settings.PORTAL_STAFF_OTP_REQUIRED = True
    return TOTPDeviceFactory(user=front_desk)


def test_right_and_wrong_passwords_get_the_same_answer(clinic, enrolled):
    wrong = admin_sign_in(host_client("demo"), "frontdesk", WRONG)
    right = admin_sign_in(host_client("demo"), "frontdesk", TEST_PASSWORD)
    right_bad_code = admin_sign_in(host_client("demo"), "frontdesk", TEST_PASSWORD, "000000")
    wrong_good_code = admin_sign_in(
        host_client("demo"), "frontdesk", WRONG, current_totp_code(enrolled)
    )
    assert wrong.status_code == right.status_code == 200
    assert right_bad_code.status_code == wrong_good_code.status_code == 200
    page = page_without_csrf(wrong)
    assert page_without_csrf(right) == page
    assert page_without_csrf(right_bad_code) == page
    assert page_without_csrf(wrong_good_code) == page
    assert "Please enter your OTP token" not in page


def test_a_right_password_without_a_code_still_counts_as_a_failure(clinic, enrolled):
    client = host_client("demo")
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        admin_sign_in(client, "frontdesk", TEST_PASSWORD)
    response = admin_sign_in(client, "frontdesk", TEST_PASSWORD, current_totp_code(enrolled))
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_the_code_is_not_checked_while_locked(clinic, enrolled):
    client = host_client("demo")
    _fail(client, "frontdesk", django_settings.AXES_FAILURE_LIMIT)
    with mock.patch("clinics.staff_signin.match_second_factor") as match:
        admin_sign_in(client, "frontdesk", TEST_PASSWORD, current_totp_code(enrolled))
    match.assert_not_called()


def test_password_and_code_sign_in(clinic, enrolled):
    client = host_client("demo")
    response = admin_sign_in(client, "frontdesk", TEST_PASSWORD, current_totp_code(enrolled))
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_operators_sign_in_the_same_way(db, settings):
    settings.PORTAL_STAFF_OTP_REQUIRED = True
    operator = UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)
    device = TOTPDeviceFactory(user=operator)
    client = host_client("localhost")
    wrong = admin_sign_in(client, "op", WRONG)
    right = admin_sign_in(client, "op", TEST_PASSWORD)
    assert page_without_csrf(wrong) == page_without_csrf(right)
    _fail(client, "op", django_settings.AXES_FAILURE_LIMIT)
    locked = admin_sign_in(client, "op", TEST_PASSWORD, current_totp_code(device))
    assert locked.status_code == 200
    assert "Too many failed sign-in attempts" in locked.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_wrong_passwords_sent_at_once_are_checked_no_more_than_the_limit(clinic):
    """Forty sign-ins at once for one account: the throttle's count is read and written
    one attempt at a time, so at most the limit's worth of failures is recorded (each a
    checked password); without the lock all 39 wrong passwords were checked."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks; this run uses " + connection.vendor)
    UserFactory(clinic=clinic, username="admin", is_staff=True, password=TEST_PASSWORD)
    limit = django_settings.AXES_FAILURE_LIMIT
    attempts = 40
    barrier = threading.Barrier(attempts)
    signed_in, errors = [], []

    def attempt(i):
        try:
            client = host_client("demo", REMOTE_ADDR=f"198.51.100.{i + 1}")
            barrier.wait(timeout=30)
            password = TEST_PASSWORD if i == attempts - 1 else WRONG
            admin_sign_in(client, "admin", password)
            signed_in.append("_auth_user_id" in client.session)
        except Exception as exc:  # noqa: BLE001 - any error is what this test looks for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    failures = sum(AccessAttempt.objects.values_list("failures_since_start", flat=True))
    assert failures <= limit
    assert signed_in.count(True) <= 1
