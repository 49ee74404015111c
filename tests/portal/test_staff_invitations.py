"""Staff join by invitation: an emailed single-use link on their clinic's host, a
password of their own, and an authenticator before any admin page."""

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import User
from clinics.roles import CLINIC_ADMIN, FRONT_DESK
from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from portal.staff import onboarding
from portal.staff.models import StaffInvitation
from tests.clients import admin_sign_in, committed, host_client, staff_client
from tests.factories import UserFactory, current_totp_code
from tests.portal.outbox import staff_invitation_link

pytestmark = pytest.mark.django_db

PASSWORD = "a long and private passphrase"
CLINIC_INVITE = "/admin/staff/staffinvitation/add/"
CLINIC_INVITATIONS = "/admin/staff/staffinvitation/"
SETUP = "/admin/account/two-factor/"


@pytest.fixture
def operator(db):
    return UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)


def _invite(actor, clinic, *, username="newadmin", role=CLINIC_ADMIN, email=None):
    return committed(
        onboarding.staff_invitation_send,
        actor=actor,
        clinic=clinic,
        email=email or f"{username}@example.com",
        username=username,
        role=role,
        first_name="Nadia",
        last_name="Okafor",
    )


def _open(link, host=None):
    """Follow the emailed link in a fresh browser (on ``host``, else the link's own)."""
    client = host_client(host or urlsplit(link).hostname)
    response = client.get(urlsplit(link).path)
    return client, response


def _set_password(client, password=PASSWORD):
    return client.post(
        "/admin/account/invitation/", {"new_password1": password, "new_password2": password}
    )


def test_an_operator_invites_a_clinic_admin_who_must_set_up_an_authenticator_first(
    clinic, operator
):
    response = host_client("localhost", operator, committing=True).post(
        "/admin/staff/staffinvitation/add/",
        {
            "clinic": clinic.pk,
            "email": "nadia@example.com",
            "username": "nadia",
            "first_name": "Nadia",
            "last_name": "Okafor",
        },
    )
    assert response.status_code == 302
    link = staff_invitation_link(mail.outbox)
    assert urlsplit(link).hostname == "demo.localhost"

    client, opened = _open(link)
    assert opened["Location"] == "/admin/account/invitation/"
    assert "Nadia" not in str(Notification.objects.get().context)
    page = client.get("/admin/account/invitation/")
    assert page.status_code == 200
    assert "nadia" in page.content.decode()
    assert _set_password(client)["Location"] == "/admin/login/"

    nadia = User.objects.get(clinic=clinic, username="nadia")
    assert nadia.is_staff and nadia.has_role(CLINIC_ADMIN)
    assert admin_sign_in(client, "nadia", PASSWORD).status_code == 302
    for page in ("/admin/", "/admin/patients/patient/", "/admin/staff/staffmember/"):
        assert client.get(page)["Location"] == SETUP

    client.get(SETUP)
    device = TOTPDevice.objects.get(user=nadia, confirmed=False)
    assert len(client.post(SETUP, {"code": current_totp_code(device)}).context["codes"]) == 10
    assert client.get("/admin/patients/patient/").status_code == 200
    actions = set(AuditEvent.objects.filter(clinic=clinic).values_list("action", flat=True))
    assert {"staff.invitation_sent", "staff.invitation_accepted"} <= actions


def test_the_token_is_stored_only_as_a_hash_and_never_in_the_outbox_row(clinic, clinic_admin):
    invitation = _invite(clinic_admin, clinic)
    token = urlsplit(staff_invitation_link(mail.outbox)).path.rstrip("/").rsplit("/", 1)[-1]
    invitation.refresh_from_db()
    assert invitation.token_hash and token not in invitation.token_hash
    assert token not in str(Notification.objects.get().context)
    assert token not in str(list(AuditEvent.objects.values_list("details", flat=True)))


def test_a_clinic_admin_invites_front_desk_from_the_staff_list(clinic, clinic_admin):
    client = staff_client(clinic_admin, committing=True)
    assert client.get("/admin/staff/staffmember/add/")["Location"] == CLINIC_INVITE
    response = client.post(
        CLINIC_INVITE,
        {"email": "Desk@Example.com", "username": "desk2", "role": FRONT_DESK},
    )
    assert response.status_code == 302
    invitation = StaffInvitation.objects.get()
    assert (invitation.clinic, invitation.email, invitation.sent_by) == (
        clinic,
        "desk@example.com",
        clinic_admin,
    )
    client, _ = _open(staff_invitation_link(mail.outbox))
    _set_password(client)
    desk = User.objects.get(clinic=clinic, username="desk2")
    assert desk.has_role(FRONT_DESK) and not desk.has_role(CLINIC_ADMIN)
    assert desk.check_password(PASSWORD)


def test_the_password_validators_apply(clinic, clinic_admin):
    _invite(clinic_admin, clinic)
    client, _ = _open(staff_invitation_link(mail.outbox))
    response = _set_password(client, "newadmin")
    assert response.status_code == 200
    assert response.context["form"].errors["new_password1"]
    assert not User.objects.filter(username="newadmin").exists()


def test_a_link_works_once(clinic, clinic_admin):
    _invite(clinic_admin, clinic)
    link = staff_invitation_link(mail.outbox)
    client, _ = _open(link)
    _set_password(client)
    again, _ = _open(link)
    response = again.get("/admin/account/invitation/")
    assert response.status_code == 410
    assert "already used" in response.content.decode()


def test_an_expired_link_is_refused(clinic, clinic_admin, frozen):
    _invite(clinic_admin, clinic)
    client, _ = _open(staff_invitation_link(mail.outbox))
    frozen.shift(dt.timedelta(hours=onboarding.STAFF_INVITATION_VALID_HOURS))
    assert _set_password(client).status_code == 410
    assert not User.objects.filter(username="newadmin").exists()


@pytest.mark.parametrize("host", ["northside", "localhost"])
def test_a_link_works_only_on_its_clinics_host(clinic, other_clinic, clinic_admin, host):
    _invite(clinic_admin, clinic)
    client, _ = _open(staff_invitation_link(mail.outbox), host=host)
    assert client.get("/admin/account/invitation/").status_code == 410
    assert _set_password(client).status_code == 410
    assert not User.objects.filter(username="newadmin").exists()


def test_sending_again_replaces_the_link_and_revoking_ends_it(clinic, clinic_admin):
    invitation = _invite(clinic_admin, clinic)
    first = staff_invitation_link(mail.outbox)
    client = staff_client(clinic_admin, committing=True)
    client.post(
        CLINIC_INVITATIONS, {"action": "resend_invitations", "_selected_action": [invitation.pk]}
    )
    second = staff_invitation_link(mail.outbox)
    assert first != second
    old, _ = _open(first)
    assert old.get("/admin/account/invitation/").status_code == 410

    newest = StaffInvitation.objects.first()
    client.post(
        CLINIC_INVITATIONS, {"action": "revoke_invitations", "_selected_action": [newest.pk]}
    )
    revoked, _ = _open(second)
    assert revoked.get("/admin/account/invitation/").status_code == 410
    assert AuditEvent.objects.filter(action="staff.invitation_revoked", actor=clinic_admin).exists()


def test_front_desk_cannot_invite_even_with_a_forged_post(clinic, front_desk):
    client = staff_client(front_desk)
    assert client.get(CLINIC_INVITE).status_code == 403
    forged = client.post(
        CLINIC_INVITE, {"email": "x@example.com", "username": "x", "role": FRONT_DESK}
    )
    assert forged.status_code == 403
    with pytest.raises(PermissionDenied):
        _invite(front_desk, clinic, role=FRONT_DESK)
    assert not StaffInvitation.objects.exists()


def test_front_desk_cannot_revoke_a_clinic_admins_invitation(clinic, clinic_admin, front_desk):
    invitation = _invite(clinic_admin, clinic, role=FRONT_DESK)
    with pytest.raises(PermissionDenied):
        onboarding.staff_invitation_revoke(actor=front_desk, invitation=invitation)
    assert invitation.state() == StaffInvitation.State.VALID


def test_operators_invite_clinic_admins_only(clinic, operator):
    with pytest.raises(PermissionDenied):
        _invite(operator, clinic, role=FRONT_DESK)
    assert _invite(operator, clinic).role == CLINIC_ADMIN


def test_a_clinic_admin_cannot_invite_to_another_clinic(clinic, other_clinic, outsider_staff):
    with pytest.raises(PermissionDenied):
        _invite(outsider_staff, clinic)


def test_another_clinics_invitations_are_not_listed(
    clinic, other_clinic, clinic_admin, outsider_staff
):
    theirs = _invite(outsider_staff, other_clinic, username="theirs")
    ours = _invite(clinic_admin, clinic, username="ours")
    client = staff_client(clinic_admin)
    listed = client.get(CLINIC_INVITATIONS).context["cl"].result_list
    assert list(listed) == [ours]
    assert client.get(f"{CLINIC_INVITATIONS}{theirs.pk}/change/").status_code == 404


def test_a_username_or_email_in_use_is_refused(clinic, clinic_admin, front_desk):
    response = staff_client(clinic_admin).post(
        CLINIC_INVITE, {"email": front_desk.email, "username": "frontdesk", "role": FRONT_DESK}
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"email", "username"}
    with pytest.raises(onboarding.AccountExists):
        _invite(clinic_admin, clinic, username="frontdesk")


def test_operators_add_clinic_admins_by_invitation_never_by_typing_a_password(clinic, operator):
    client = host_client("localhost", operator)
    assert client.get("/admin/clinics/user/add/")["Location"] == "/admin/staff/staffinvitation/add/"
    added = client.post(
        "/admin/clinics/clinic/add/",
        {
            "slug": "lakeside",
            "name": "Lakeside",
            "time_zone": "America/Toronto",
            "country": "CA",
            "accent_colour": "#1d6fa5",
            "domains-TOTAL_FORMS": "0",
            "domains-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    lakeside = clinic.__class__.objects.get(slug="lakeside")
    assert f"/admin/staff/staffinvitation/add/?clinic={lakeside.pk}" in added.content.decode()
    form = client.get(f"/admin/staff/staffinvitation/add/?clinic={lakeside.pk}")
    assert form.context["adminform"].form.initial["clinic"] == str(lakeside.pk)
