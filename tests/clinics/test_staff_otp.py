import io

import pytest
from django.core.management import CommandError, call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.clients import host_client, staff_client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _enrol(user):
    call_command("staff_totp_enrol", user.clinic.slug, user.username, stdout=io.StringIO())
    return TOTPDevice.objects.get(user=user)


def _current_code(device):
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def test_when_required_staff_need_an_authenticator_code(clinic, front_desk, settings):
    settings.PORTAL_STAFF_OTP_REQUIRED = True
    device = _enrol(front_desk)
    client = host_client("demo")
    without = client.post(
        "/admin/login/?next=/admin/",
        {"username": "frontdesk", "password": PASSWORD, "otp_device": device.persistent_id},
    )
    assert without.status_code == 200
    assert client.get("/admin/").status_code == 302

    with_code = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "frontdesk",
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": _current_code(device),
        },
    )
    assert with_code.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_signed_in_but_unverified_staff_member_is_refused(clinic, front_desk, settings):
    settings.PORTAL_STAFF_OTP_REQUIRED = True
    client = staff_client(front_desk)
    assert client.get("/admin/").status_code == 302


def test_enrolling_twice_needs_replace(clinic, front_desk):
    _enrol(front_desk)
    with pytest.raises(CommandError, match="--replace"):
        _enrol(front_desk)
    call_command("staff_totp_enrol", "demo", "frontdesk", "--replace", stdout=io.StringIO())
    assert TOTPDevice.objects.filter(user=front_desk).count() == 1


def test_it_only_enrols_staff_of_that_clinic(clinic, other_clinic, outsider_staff):
    with pytest.raises(CommandError):
        call_command("staff_totp_enrol", "demo", outsider_staff.username, stdout=io.StringIO())
