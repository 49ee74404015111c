"""Staff set up their own authenticator and backup codes; a clinic admin can reset a
colleague's."""

import pytest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.audit.models import AuditEvent
from tests.clients import admin_sign_in, host_client, staff_client
from tests.factories import (
    TEST_PASSWORD,
    ClinicAdminFactory,
    StaffFactory,
    TOTPDeviceFactory,
    UserFactory,
    backup_codes_for,
    current_totp_code,
)

pytestmark = pytest.mark.django_db

SETUP = "/admin/account/two-factor/"


@pytest.fixture
def required(settings):
    settings.PORTAL_STAFF_OTP_REQUIRED = True


def _enrol(client, user):
    client.get(SETUP)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).latest("pk")
    return client.post(SETUP, {"code": current_totp_code(device)})


def test_a_new_staff_member_sets_up_their_authenticator_at_first_sign_in(
    clinic, front_desk, required, frozen
):
    client = host_client("demo")
    assert admin_sign_in(client, "frontdesk", TEST_PASSWORD).status_code == 302
    assert client.get("/admin/patients/patient/")["Location"] == SETUP
    page = client.get(SETUP)
    assert page.status_code == 200
    assert "<svg" in page.content.decode()

    wrong = client.post(SETUP, {"code": "000000"})
    assert "That code does not match" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=front_desk, confirmed=True).exists()

    frozen.shift(30)  # django-otp makes a device wait a moment after a wrong code
    done = _enrol(client, front_desk)
    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    assert client.get("/admin/patients/patient/").status_code == 200
    assert AuditEvent.objects.filter(action="staff.two_factor_enrolled", actor=front_desk).exists()


def test_a_secret_seen_in_another_session_is_never_the_one_confirmed(
    clinic, front_desk, required, frozen
):
    """Someone who had the password of an account without an authenticator read the
    set-up secret; the holder then set up theirs: the secret read earlier must not
    become (or stay) a second factor of the account."""
    intruder = host_client("demo")
    admin_sign_in(intruder, "frontdesk", TEST_PASSWORD)
    intruder.get(SETUP)
    seen = TOTPDevice.objects.get(user=front_desk, confirmed=False)

    holder = host_client("demo")
    admin_sign_in(holder, "frontdesk", TEST_PASSWORD)
    holder.get(SETUP)
    own = TOTPDevice.objects.exclude(pk=seen.pk).get(user=front_desk, confirmed=False)
    assert own.bin_key != seen.bin_key
    assert holder.post(SETUP, {"code": current_totp_code(own)}).status_code == 200
    assert list(TOTPDevice.objects.filter(user=front_desk)) == [own]
    assert not TOTPDevice.objects.filter(pk=seen.pk).exists()

    frozen.shift(30)
    later = host_client("demo")
    admin_sign_in(later, "frontdesk", TEST_PASSWORD, code=current_totp_code(seen))
    assert later.get("/admin/patients/patient/").status_code != 200


def test_the_secret_and_codes_stay_out_of_the_audit_log(clinic, front_desk, required):
    client = host_client("demo")
    admin_sign_in(client, "frontdesk", TEST_PASSWORD)
    codes = _enrol(client, front_desk).context["codes"]
    device = TOTPDevice.objects.get(user=front_desk)
    logged = str(list(AuditEvent.objects.values_list("details", flat=True)))
    assert device.key not in logged
    assert not any(code in logged for code in codes)


def test_a_backup_code_works_once(clinic, front_desk, required, frozen):
    TOTPDeviceFactory(user=front_desk)
    backup_codes_for(front_desk, ["firstcode", "secondcode"])
    client = host_client("demo")
    assert admin_sign_in(client, "frontdesk", TEST_PASSWORD, "firstcode").status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post("/admin/logout/")
    again = admin_sign_in(host_client("demo"), "frontdesk", TEST_PASSWORD, "firstcode")
    assert again.status_code == 200
    assert "_auth_user_id" not in again.wsgi_request.session
    frozen.shift(30)  # django-otp makes the codes wait a moment after a wrong one
    second = admin_sign_in(host_client("demo"), "frontdesk", TEST_PASSWORD, "secondcode")
    assert second.status_code == 302


def test_new_backup_codes_replace_the_old_ones(clinic, front_desk, required, frozen):
    device = TOTPDeviceFactory(user=front_desk)
    backup_codes_for(front_desk, ["oldcode1"])
    client = host_client("demo")
    admin_sign_in(client, "frontdesk", TEST_PASSWORD, current_totp_code(device))
    response = client.post("/admin/account/backup-codes/")
    codes = response.context["codes"]
    assert len(codes) == 10
    assert "oldcode1" not in codes
    old = admin_sign_in(host_client("demo"), "frontdesk", TEST_PASSWORD, "oldcode1")
    assert old.status_code == 200
    frozen.shift(30)
    new = admin_sign_in(host_client("demo"), "frontdesk", TEST_PASSWORD, codes[3])
    assert new.status_code == 302
    assert AuditEvent.objects.filter(action="staff.backup_codes_regenerated").exists()


def test_a_session_not_verified_cannot_replace_an_existing_authenticator(
    clinic, front_desk, required
):
    TOTPDeviceFactory(user=front_desk)
    client = staff_client(front_desk)  # signed in without a code
    response = client.get(SETUP)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.post("/admin/account/backup-codes/").status_code == 302
    assert not StaticDevice.objects.filter(user=front_desk).exists()


def test_a_clinic_admin_resets_a_colleagues_authenticator(clinic, clinic_admin, front_desk):
    TOTPDeviceFactory(user=front_desk)
    backup_codes_for(front_desk)
    desk = staff_client(front_desk)
    response = staff_client(clinic_admin).post(
        "/admin/staff/staffmember/",
        {"action": "reset_two_factor", "_selected_action": [front_desk.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=front_desk).exists()
    assert not StaticDevice.objects.filter(user=front_desk).exists()
    assert desk.get("/admin/").status_code == 302
    event = AuditEvent.objects.get(action="staff.two_factor_reset")
    assert (event.actor, event.object_id) == (clinic_admin, str(front_desk.pk))


def test_front_desk_cannot_reset_anyone(clinic, front_desk):
    colleague = StaffFactory(clinic=clinic, username="colleague")
    TOTPDeviceFactory(user=colleague)
    response = staff_client(front_desk).post(
        "/admin/staff/staffmember/",
        {"action": "reset_two_factor", "_selected_action": [colleague.pk]},
    )
    assert response.status_code == 403
    assert TOTPDevice.objects.filter(user=colleague).exists()


def test_a_clinic_admin_cannot_reset_another_clinic_admin_or_an_outsider(
    clinic, clinic_admin, outsider_staff
):
    peer = ClinicAdminFactory(clinic=clinic, username="peer")
    TOTPDeviceFactory(user=peer)
    TOTPDeviceFactory(user=outsider_staff)
    staff_client(clinic_admin).post(
        "/admin/staff/staffmember/",
        {"action": "reset_two_factor", "_selected_action": [peer.pk, outsider_staff.pk]},
    )
    assert TOTPDevice.objects.filter(user=peer).exists()
    assert TOTPDevice.objects.filter(user=outsider_staff).exists()


def test_an_operator_resets_a_clinic_admin(clinic, clinic_admin):
    TOTPDeviceFactory(user=clinic_admin)
    operator = UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)
    staff_client(operator, host="localhost").post(
        "/admin/clinics/user/",
        {"action": "reset_two_factor", "_selected_action": [clinic_admin.pk]},
    )
    assert not TOTPDevice.objects.filter(user=clinic_admin).exists()
