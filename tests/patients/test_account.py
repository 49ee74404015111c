"""Account pages: password, password sign-in and reset, authenticator, activity."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from patients import authenticator, locks, sessions
from patients.models import PatientAccess, SignInLock
from patients.passcodes import Proof
from portal.audit.models import AuditEvent
from portal.notifications import sms
from tests.clients import host_client, portal_client, staff_client
from tests.factories import (
    TEST_PASSWORD,
    PatientAccessFactory,
    PatientCategoryFactory,
    PatientFactory,
    TOTPDeviceFactory,
    UserFactory,
)
from tests.patients.flows import sign_in, signed_in, strip_csrf

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "lantern orchard pebble 42"
PASSWORD_PAGE = "/portal/account/password/"
SIGN_IN = "/portal/sign-in/password/"
AUTHENTICATOR = "/portal/account/authenticator/"
MFA_STEP = "/portal/sign-in/authenticator/"
LINK_RE = re.compile(r"(https?)://([^/\s]+)(/portal/password-reset/[^/\s]+/[^/\s]+/)")


def _patient_of(user):
    return PatientAccess.objects.get(user=user).patient


def _set_password(c, one, two=None):
    return c.post(PASSWORD_PAGE, {"new_password1": one, "new_password2": two or one})


def _password_sign_in(c, login, password=TEST_PASSWORD):
    return c.post(SIGN_IN, {"login": login, "password": password})


def _totp_code(device):
    """The code the patient's app shows now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


# --- Setting a password -----------------------------------------------------------------


def test_it_sets_a_password_from_the_account_page(chart):
    c = host_client(committing=True)
    sign_in(c)
    account = c.get("/portal/account/").content.decode()
    assert "You sign in with one time passcodes." in account
    assert c.get(PASSWORD_PAGE).status_code == 200

    response = _set_password(c, NEW_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/portal/account/"
    user = PatientAccess.objects.get(patient=chart).user
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert signed_in(c)  # this device stays signed in
    assert "You have a password." in c.get("/portal/account/").content.decode()
    assert AuditEvent.objects.filter(action="password.changed", actor=user).count() == 1


@pytest.mark.parametrize(
    ("one", "two", "error"),
    [
        ("short pass", None, "This password is too short. It must contain at least 12"),
        ("password1234", None, "This password is too common."),
        ("qwertyuiop123", None, "This password is too common."),
        ("983475109283", None, "This password is entirely numeric."),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords are different."),
    ],
)
def test_it_refuses_a_weak_or_mistyped_password(rosa, one, two, error):
    c = portal_client(rosa, _patient_of(rosa))
    response = _set_password(c, one, two)
    assert response.status_code == 200
    assert error in response.content.decode()
    rosa.refresh_from_db()
    assert rosa.check_password(TEST_PASSWORD)


def test_a_new_password_signs_out_the_other_devices(rosa):
    patient = _patient_of(rosa)
    here, elsewhere = portal_client(rosa, patient), portal_client(rosa, patient)
    assert signed_in(elsewhere)
    assert _set_password(here, NEW_PASSWORD).status_code == 302
    assert signed_in(here)
    assert not signed_in(elsewhere)


# --- Password sign-in -------------------------------------------------------------------


@pytest.mark.parametrize("login", ["rosa@example.com", "ROSA@example.com ", "613-555-0177"])
def test_it_signs_in_with_email_or_mobile_and_password(rosa, login):
    c = host_client(committing=True)
    response = _password_sign_in(c, login)
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    home = c.get("/portal/")
    assert home.status_code == 200
    assert "Hello, Rosa" in home.content.decode()
    event = AuditEvent.objects.get(action="signin.success")
    assert event.actor == rosa
    assert event.details == {"method": "password"}


def test_password_sign_in_gives_a_new_session_key(rosa):
    c = host_client(committing=True)
    c.get(SIGN_IN)
    before = c.session.session_key
    _password_sign_in(c, "rosa@example.com")
    assert c.cookies["sessionid"].value != before


def test_ten_wrong_passwords_lock_sign_in(rosa):
    c = host_client(committing=True)
    for attempt in range(9):
        response = _password_sign_in(c, "rosa@example.com", f"wrong password {attempt}")
        assert response.status_code == 200
        assert "That email, phone or password is not right." in response.content.decode()
    locked = _password_sign_in(c, "rosa@example.com", "wrong password 9")
    assert locked.status_code == 429
    assert "try again after" in locked.content.decode()
    assert _password_sign_in(c, "rosa@example.com").status_code == 429
    assert not signed_in(c)
    lock = SignInLock.objects.get(subject=locks.subject_for_user(rosa))
    assert lock.failures == 10
    assert AuditEvent.objects.filter(action="signin.locked", actor=rosa).count() == 1


def test_a_right_password_resets_the_count(rosa):
    c = host_client(committing=True)
    for _ in range(9):
        _password_sign_in(c, "rosa@example.com", "wrong password")
    assert _password_sign_in(c, "rosa@example.com")["Location"] == "/portal/"
    c.post("/portal/sign-out/")
    assert _password_sign_in(c, "rosa@example.com", "wrong password").status_code == 200
    assert SignInLock.objects.get(subject=locks.subject_for_user(rosa)).failures == 1


def test_an_unknown_login_gets_the_same_answer_as_a_wrong_password(rosa):
    wrong = _password_sign_in(host_client(committing=True), "rosa@example.com", "not her password")
    unknown = _password_sign_in(
        host_client(committing=True), "nobody@example.com", "not her password"
    )
    assert wrong.status_code == unknown.status_code == 200
    assert "That email, phone or password is not right." in unknown.content.decode()
    assert strip_csrf(wrong.content).replace(b"rosa@example.com", b"<login>") == strip_csrf(
        unknown.content
    ).replace(b"nobody@example.com", b"<login>")


def test_an_account_without_a_password_cannot_sign_in_with_one(chart):
    sign_in(host_client(committing=True))  # creates the account, with an unusable password
    response = _password_sign_in(host_client(committing=True), "+16135550123", "")
    assert response.status_code == 200
    assert not signed_in(host_client(committing=True))


def test_a_temporary_password_must_be_changed_first(rosa):
    rosa.must_change_password = True
    rosa.save()
    c = host_client(committing=True)
    assert _password_sign_in(c, "rosa@example.com")["Location"] == "/portal/"
    assert c.get("/portal/")["Location"] == PASSWORD_PAGE
    assert c.get("/portal/account/activity/")["Location"] == PASSWORD_PAGE
    page = c.get(PASSWORD_PAGE)
    assert "The clinic gave you a temporary password" in page.content.decode()
    assert _set_password(c, NEW_PASSWORD).status_code == 302
    assert c.get("/portal/").status_code == 200


def test_staff_cannot_use_the_patient_password_sign_in(clinic, front_desk):
    front_desk.phone = "+16135550188"
    front_desk.save()
    response = _password_sign_in(host_client(committing=True), front_desk.email)
    assert response.status_code == 200
    assert "That email, phone or password is not right." in response.content.decode()


# --- Password reset ---------------------------------------------------------------------


def _ask_for_reset(c, login="rosa@example.com"):
    return c.post("/portal/password-reset/", {"login": login})


def _reset_link():
    match = LINK_RE.search(mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match


def test_it_emails_a_reset_link_and_lets_the_patient_set_a_new_password(rosa):
    c = host_client(committing=True)
    response = _ask_for_reset(c)
    assert response.status_code == 302
    assert response["Location"] == SIGN_IN
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["rosa@example.com"]
    link = _reset_link()
    assert link.group(2).split(":")[0] == "demo.localhost"

    visitor = host_client(committing=True)
    moved = visitor.get(link.group(3))
    assert moved.status_code == 302
    assert moved["Location"] == "/portal/password-reset/set/"
    assert moved["Referrer-Policy"] == "no-referrer"
    assert visitor.get("/portal/password-reset/set/").status_code == 200
    done = visitor.post(
        "/portal/password-reset/set/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302
    assert done["Location"] == SIGN_IN
    rosa.refresh_from_db()
    assert rosa.check_password(NEW_PASSWORD)
    assert _password_sign_in(visitor, "rosa@example.com", NEW_PASSWORD)["Location"] == "/portal/"


def test_it_texts_a_reset_link_to_a_mobile(rosa):
    _ask_for_reset(host_client(committing=True), "613 555 0177")
    assert len(sms.outbox) == 1
    assert sms.outbox[0].to == "+16135550177"
    assert "/portal/password-reset/" in sms.outbox[0].body


def test_a_reset_ends_the_sessions_of_the_account(rosa):
    elsewhere = portal_client(rosa, _patient_of(rosa))
    _ask_for_reset(host_client(committing=True))
    visitor = host_client(committing=True)
    visitor.get(_reset_link().group(3))
    visitor.post(
        "/portal/password-reset/set/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert not signed_in(elsewhere)


def test_the_reset_link_works_once(rosa):
    _ask_for_reset(host_client(committing=True))
    path = _reset_link().group(3)
    first = host_client(committing=True)
    first.get(path)
    first.post(
        "/portal/password-reset/set/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    again = host_client(committing=True)
    again.get(path)
    response = again.get("/portal/password-reset/set/")
    assert response.status_code == 400
    assert "This link no longer works" in response.content.decode()
    refused = again.post(
        "/portal/password-reset/set/",
        {"new_password1": "another fine passphrase", "new_password2": "another fine passphrase"},
    )
    assert refused.status_code == 400
    rosa.refresh_from_db()
    assert rosa.check_password(NEW_PASSWORD)


def test_the_reset_link_is_refused_on_another_clinics_host(rosa, other_clinic):
    _ask_for_reset(host_client(committing=True))
    path = _reset_link().group(3)
    northside = host_client("northside", committing=True)
    northside.get(path)
    response = northside.post(
        "/portal/password-reset/set/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert "This link no longer works" in response.content.decode()
    rosa.refresh_from_db()
    assert rosa.check_password(TEST_PASSWORD)
    # Still good on the clinic's own host.
    demo = host_client(committing=True)
    demo.get(path)
    assert demo.get("/portal/password-reset/set/").status_code == 200


def test_a_forged_reset_link_is_refused(rosa):
    c = host_client(committing=True)
    c.get("/portal/password-reset/MQ/abc-123/")
    assert c.get("/portal/password-reset/set/").status_code == 400
    c.get("/portal/password-reset/%%%/abc/")
    assert c.get("/portal/password-reset/set/").status_code == 400


def test_the_reset_request_answers_the_same_for_unknown_accounts(rosa):
    known_client, unknown_client = host_client(committing=True), host_client(committing=True)
    known = _ask_for_reset(known_client, "rosa@example.com")
    unknown = _ask_for_reset(unknown_client, "nobody@example.com")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    known_page = known_client.get(known["Location"])
    unknown_page = unknown_client.get(unknown["Location"])
    assert strip_csrf(known_page.content) == strip_csrf(unknown_page.content)
    assert "If an account uses that email or phone" in unknown_page.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["rosa@example.com"]


# --- Authenticator ----------------------------------------------------------------------


def _enrol(c, user, frozen):
    page = c.get(AUTHENTICATOR)
    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = c.post(AUTHENTICATOR, {"code": _totp_code(device)})
    assert response.status_code == 302, response.content.decode()
    # Set up: the recovery codes are shown next, once.
    assert response["Location"] == "/portal/account/recovery-codes/"
    device.refresh_from_db()
    assert device.confirmed
    frozen.shift(device.step)  # the next code; a code is good once
    return device


def test_each_set_up_has_its_own_secret_and_only_the_confirmed_one_counts(rosa, frozen):
    """A secret one session saw (say, someone who had the password for a while) is not
    the one the holder confirms in theirs, and it stops working once they do."""
    intruder = portal_client(rosa, _patient_of(rosa))
    intruder.get(AUTHENTICATOR)
    seen = TOTPDevice.objects.get(user=rosa, confirmed=False)
    holder = portal_client(rosa, _patient_of(rosa))
    confirmed = _enrol_in(holder, rosa, exclude=seen)
    assert confirmed.bin_key != seen.bin_key
    assert not TOTPDevice.objects.filter(pk=seen.pk).exists()
    assert not authenticator.totp_enrol_confirm(
        request=None, user=rosa, device_id=seen.pk, code=_totp_code(seen)
    )
    result = authenticator.totp_verify(request=None, user=rosa, code=_totp_code(seen))
    assert result.outcome is not Proof.OK


def test_signing_out_everywhere_ends_unfinished_set_ups(rosa):
    other = portal_client(rosa, _patient_of(rosa))
    other.get(AUTHENTICATOR)
    assert TOTPDevice.objects.filter(user=rosa, confirmed=False).exists()
    sessions.account_end_all_sessions(request=None, user=rosa)
    assert not TOTPDevice.objects.filter(user=rosa).exists()


def _enrol_in(c, user, exclude):
    c.get(AUTHENTICATOR)
    device = TOTPDevice.objects.exclude(pk=exclude.pk).get(user=user, confirmed=False)
    response = c.post(AUTHENTICATOR, {"code": _totp_code(device)})
    assert response.status_code == 302, response.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_it_enrols_an_authenticator_and_then_asks_for_it(rosa, frozen):
    c = portal_client(rosa, _patient_of(rosa))
    wrong_first = c.post(AUTHENTICATOR, {"code": "000000"})
    assert "That code is not right" in wrong_first.content.decode()
    device = _enrol(c, rosa, frozen)
    assert "An authenticator app is set up." in c.get("/portal/account/").content.decode()
    assert AuditEvent.objects.filter(action="authenticator.added", actor=rosa).exists()

    visitor = host_client(committing=True)
    response = _password_sign_in(visitor, "rosa@example.com")
    assert response.status_code == 302
    assert response["Location"] == MFA_STEP
    assert not signed_in(visitor)
    assert "Hello, Rosa" not in visitor.get("/portal/").content.decode()  # no home page yet
    step = visitor.post(MFA_STEP, {"code": _totp_code(device)})
    assert step.status_code == 302
    assert step["Location"] == "/portal/"
    assert signed_in(visitor)
    event = AuditEvent.objects.filter(action="signin.success", actor=rosa).latest("id")
    assert event.details == {"method": "password+authenticator"}


def test_the_right_authenticator_code_right_after_a_wrong_one_is_accepted(rosa, frozen):
    device = TOTPDeviceFactory(user=rosa)
    visitor = host_client(committing=True)
    assert _password_sign_in(visitor, "rosa@example.com")["Location"] == MFA_STEP
    right = _totp_code(device)
    wrong_code = f"{(int(right) + 1) % 1_000_000:06d}"
    assert "That code is not right" in visitor.post(MFA_STEP, {"code": wrong_code}).content.decode()
    step = visitor.post(MFA_STEP, {"code": right})  # the same second
    assert step.status_code == 302
    assert step["Location"] == "/portal/"
    assert signed_in(visitor)


def test_a_passcode_sign_in_also_asks_for_the_authenticator(chart, frozen):
    c = host_client(committing=True)
    sign_in(c)
    user = PatientAccess.objects.get(patient=chart).user
    _enrol(c, user, frozen)
    c.post("/portal/sign-out/")
    frozen.shift(61)
    other = host_client(committing=True)
    assert sign_in(other)["Location"] == MFA_STEP
    assert not signed_in(other)


def test_a_wrong_authenticator_code_counts_as_a_failure(rosa, frozen):
    device = _enrol(portal_client(rosa, _patient_of(rosa)), rosa, frozen)
    c = host_client(committing=True)
    _password_sign_in(c, "rosa@example.com")
    right = _totp_code(device)
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
    response = c.post(MFA_STEP, {"code": wrong})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not signed_in(c)
    lock = SignInLock.objects.get(subject=locks.subject_for_user(rosa))
    assert lock.failures == 1
    failed = AuditEvent.objects.get(action="signin.failed", actor=rosa)
    assert failed.details == {"method": "authenticator"}
    for _ in range(9):
        response = c.post(MFA_STEP, {"code": wrong})
    assert response.status_code == 429
    frozen.shift(2)
    assert c.post(MFA_STEP, {"code": _totp_code(device)}).status_code == 429


def test_the_authenticator_step_expires(rosa, frozen):
    device = _enrol(portal_client(rosa, _patient_of(rosa)), rosa, frozen)
    c = host_client(committing=True)
    _password_sign_in(c, "rosa@example.com")
    frozen.shift(timedelta(minutes=5, seconds=1))
    response = c.post(MFA_STEP, {"code": _totp_code(device)})
    assert response["Location"] == "/portal/"  # the start page, not signed in
    assert not signed_in(c)


def test_a_clinic_that_requires_an_authenticator_sends_the_patient_to_enrol(rosa, frozen):
    rosa.clinic.portal_settings.mfa_required = True
    rosa.clinic.portal_settings.save()
    c = host_client(committing=True)
    response = _password_sign_in(c, "rosa@example.com")
    assert response.status_code == 302
    assert response["Location"] == AUTHENTICATOR
    assert c.get("/portal/")["Location"] == AUTHENTICATOR
    assert c.get("/portal/account/activity/")["Location"] == AUTHENTICATOR
    enrol_page = c.get(AUTHENTICATOR)
    assert "Your clinic asks every patient to set up an authenticator app." in (
        enrol_page.content.decode()
    )
    _enrol(c, rosa, frozen)
    assert c.get("/portal/").status_code == 200


def test_removing_the_authenticator_needs_a_current_code(rosa, frozen):
    c = portal_client(rosa, _patient_of(rosa))
    device = _enrol(c, rosa, frozen)
    refused = c.post(AUTHENTICATOR, {"code": f"{(int(_totp_code(device)) + 1) % 10**6:06d}"})
    assert "That code is not right" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=rosa).exists()
    frozen.shift(device.step)
    assert c.post(AUTHENTICATOR, {"code": _totp_code(device)})["Location"] == "/portal/account/"
    assert not TOTPDevice.objects.filter(user=rosa).exists()


# --- Account activity -------------------------------------------------------------------


def test_the_activity_page_shows_sign_ins_and_staff_views_and_nothing_of_others(
    rosa, fiona, clinic
):
    patient = _patient_of(rosa)
    other_user = UserFactory(clinic=clinic, first_name="Oscar", last_name="Otherby")
    other_patient = PatientFactory(clinic=clinic, first_name="Oscar", last_name="Otherby")
    PatientAccessFactory(user=other_user, patient=other_patient)

    c = host_client(committing=True)
    assert _password_sign_in(c, "rosa@example.com")["Location"] == "/portal/"
    _password_sign_in(host_client(committing=True), other_user.email)
    _password_sign_in(host_client(committing=True), other_user.email, "a wrong one")
    staff = staff_client(fiona, committing=True)
    assert staff.get(f"/admin/patients/patient/{patient.pk}/change/").status_code == 200
    assert staff.get(f"/admin/patients/patient/{other_patient.pk}/change/").status_code == 200
    viewed = AuditEvent.objects.get(action="patient.viewed", acting_for=patient)
    assert viewed.actor == fiona

    page = c.get("/portal/account/activity/")
    assert page.status_code == 200
    actions = [row.action for row in page.context["rows"]]
    assert actions == ["patient.viewed", "signin.success"]
    content = page.content.decode()
    assert "Signed in" in content
    assert "Chart viewed" in content
    assert "Fiona Desk at the clinic" in content
    assert "You" in content
    assert "Oscar" not in content
    assert "Otherby" not in content
    assert "Failed sign-in attempt" not in content


def test_a_chart_kept_off_the_portal_is_not_reached_with_a_password_either(rosa):

    patient = _patient_of(rosa)
    patient.category = PatientCategoryFactory(
        clinic=patient.clinic, name="Walk-in only", portal_eligible=False
    )
    patient.save()
    c = host_client(committing=True)
    _password_sign_in(c, "rosa@example.com")
    home = c.get("/portal/")
    assert "Hello, Rosa" not in home.content.decode()
    assert c.get("/portal/account/activity/").status_code != 200
