"""Sign-in safety: code expiry and reuse, wrong tries, locks, send limits, sessions,
audit events, and no secret in any log, audit row or notification."""

import json
import logging
import re
import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.db import connection, connections
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils.module_loading import import_string

from patients import locks, passcodes
from patients.models import PasscodeDevice, PatientAccess, SignInLock
from patients.passcodes import Proof
from portal.audit.models import AuditEvent
from portal.notifications import sms
from portal.notifications.models import Notification
from tests.clients import host_client, portal_client, staff_client
from tests.clock import NOW
from tests.factories import (
    TEST_PASSWORD,
    PasscodeDeviceFactory,
    PatientFactory,
    PatientIdentifierFactory,
    SignInLockFactory,
)
from tests.patients.flows import (
    CHART_ID,
    CHART_MOBILE,
    OTHER_MOBILE,
    begin,
    enter_code,
    fail_in_a_row,
    last_code,
    set_flow,
    sign_in,
    signed_in,
    wrong,
)

pytestmark = pytest.mark.django_db

CODE_PAGE = "/portal/sign-in/code/"
RESEND = "/portal/sign-in/code/resend/"


def _identity_subject(clinic, destination=CHART_MOBILE):
    return locks.subject_for_identity(
        clinic=clinic, id_type="health-card", id_number=CHART_ID, destination=destination
    )


def _session_store():
    from django.conf import settings

    return import_string(settings.SESSION_ENGINE + ".SessionStore")


def _locked_text(response):
    assert response.status_code == 429, response.content.decode()
    return response.content.decode()


# --- Expiry, reuse, purpose -------------------------------------------------------------


def test_it_accepts_the_code_until_it_expires(chart, frozen):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    frozen.shift(timedelta(minutes=9, seconds=59))
    assert enter_code(c, code)["Location"] == "/portal/"
    assert signed_in(c)


def test_it_refuses_the_code_after_ten_minutes(chart, frozen):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    frozen.shift(timedelta(minutes=10, seconds=1))
    response = enter_code(c, code)
    assert response.status_code == 200
    assert "This code has expired or was already used" in response.content.decode()
    assert not signed_in(c)


def test_it_follows_the_clinics_validity(chart, frozen):
    chart.clinic.portal_settings.otp_validity_minutes = 2
    chart.clinic.portal_settings.save()
    c = host_client(committing=True)
    begin(c)
    assert "It expires in 2 minutes" in c.get(CODE_PAGE).content.decode()
    assert "expires in 2 min" in sms.outbox[-1].body
    frozen.shift(timedelta(minutes=2, seconds=1))
    assert "has expired" in enter_code(c, last_code()).content.decode()


def test_it_refuses_a_code_used_once_already(chart):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    pending = dict(c.session["portal_signin"])
    assert enter_code(c, code)["Location"] == "/portal/"
    c.post("/portal/sign-out/")

    replay = host_client(committing=True)
    set_flow(replay, **pending)
    response = enter_code(replay, code)
    assert response.status_code == 200
    assert "This code has expired or was already used" in response.content.decode()
    assert not signed_in(replay)
    # The same through the service.
    result = passcodes.passcode_verify(
        request=None,
        clinic=chart.clinic,
        device_id=pending["device_id"],
        flow=pending["flow"],
        purpose=PasscodeDevice.Purpose.SIGN_IN,
        code=code,
        subjects=[(_identity_subject(chart.clinic), None)],
    )
    assert result.outcome is Proof.EXPIRED


def _contact_change_device(clinic, flow):
    device = PasscodeDeviceFactory(
        clinic=clinic,
        name="contact",
        purpose=PasscodeDevice.Purpose.CONTACT_CHANGE,
        channel="sms",
        destination=CHART_MOBILE,
        flow=flow,
        valid_until=NOW,
    )
    return device, device.issue_code(valid_secs=600)


def test_a_code_of_another_purpose_does_not_sign_in(chart):
    c = host_client(committing=True)
    begin(c)
    pending = c.session["portal_signin"]
    other, other_code = _contact_change_device(chart.clinic, uuid.UUID(pending["flow"]))
    set_flow(c, device_id=other.pk)
    response = enter_code(c, other_code)
    assert response.status_code == 200
    assert "This code has expired or was already used" in response.content.decode()
    assert not signed_in(c)
    assert not PatientAccess.objects.exists()
    # Nor through the service, and the contact-change code is left unused.
    result = passcodes.passcode_verify(
        request=None,
        clinic=chart.clinic,
        device_id=other.pk,
        flow=pending["flow"],
        purpose=PasscodeDevice.Purpose.SIGN_IN,
        code=other_code,
        subjects=[(_identity_subject(chart.clinic), None)],
    )
    assert result.outcome is Proof.EXPIRED
    other.refresh_from_db()
    assert other.code_matches(other_code)


def test_a_code_of_another_pending_sign_in_does_not_sign_in(chart):
    mine, theirs = host_client(committing=True), host_client(committing=True)
    begin(mine)
    begin(theirs, contact=OTHER_MOBILE)
    their_device = theirs.session["portal_signin"]["device_id"]
    set_flow(mine, device_id=their_device)
    response = enter_code(mine, last_code())
    assert "This code has expired or was already used" in response.content.decode()
    assert not signed_in(mine)


def test_it_stores_only_a_digest_of_the_code(chart):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    device = PasscodeDevice.objects.get()
    assert device.token
    assert code not in device.token
    assert len(device.token) == 64


# --- Wrong tries and locks --------------------------------------------------------------


def test_five_wrong_tries_kill_the_code(chart):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    for attempt in range(5):
        response = enter_code(c, wrong(code))
        assert response.status_code == 200
        says_too_many = "Too many wrong tries for this code" in response.content.decode()
        assert says_too_many == (attempt == 4)  # the fifth wrong try says so at once
    response = enter_code(c, code)
    assert response.status_code == 200
    assert "Too many wrong tries for this code. Ask for a new code." in response.content.decode()
    assert "has expired" not in response.content.decode()
    assert not signed_in(c)
    assert PasscodeDevice.objects.get().failed_tries == 5


def test_four_wrong_tries_leave_the_code_alive(chart):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    for _ in range(4):
        enter_code(c, wrong(code))
    assert enter_code(c, code)["Location"] == "/portal/"


def test_ten_failures_in_a_row_pause_sign_in_even_with_the_right_code(chart, frozen):
    c = host_client(committing=True)
    begin(c)
    assert fail_in_a_row(c, 9, frozen).status_code == 200
    text = _locked_text(enter_code(c, wrong(last_code())))
    assert "Sign-in paused" in text
    # 09:00 in Toronto, one minute's wait for the second code, then 15 minutes.
    assert "try again after 9:16" in text

    frozen.shift(61)
    assert c.post(RESEND)["Location"] == CODE_PAGE
    fresh = last_code()
    _locked_text(enter_code(c, fresh))
    assert not signed_in(c)

    frozen.shift(timedelta(minutes=15))
    c.post(RESEND)
    assert enter_code(c, last_code())["Location"] == "/portal/"
    assert signed_in(c)
    lock = SignInLock.objects.get(subject=_identity_subject(chart.clinic))
    assert lock.failures == 0


def test_wrong_codes_with_any_id_never_lock_the_account_that_holds_the_contact(chart, rosa, frozen):
    """Wrong codes count against the ID + contact typed and the connection, not against
    the account holding the contact: a stranger typing a made-up ID with a patient's
    address must not lock the patient out of their password or their own ID."""
    c = host_client(committing=True, REMOTE_ADDR="203.0.113.66")
    begin(c, id_number="9999999999", contact=str(rosa.phone))
    fail_in_a_row(c, 10, frozen)
    assert not SignInLock.objects.filter(subject=locks.subject_for_user(rosa)).exists()
    source = SignInLock.objects.get(
        subject=locks.subject_for_source(
            clinic=rosa.clinic,
            request=RequestFactory().post("/", REMOTE_ADDR="203.0.113.66"),
            what="passcode",
        )
    )
    assert source.failures == 10
    holder = host_client(committing=True, REMOTE_ADDR="198.51.100.20")
    response = holder.post(
        "/portal/sign-in/password/", {"login": "rosa@example.com", "password": TEST_PASSWORD}
    )
    assert response.status_code == 302


def test_resending_does_not_reset_the_failure_count(chart, frozen):
    c = host_client(committing=True)
    begin(c)
    fail_in_a_row(c, 9, frozen)
    frozen.shift(61)
    c.post(RESEND)
    fresh = last_code()
    assert len(sms.outbox) == 3
    _locked_text(enter_code(c, wrong(fresh)))
    _locked_text(enter_code(c, fresh))
    assert SignInLock.objects.get(subject=_identity_subject(chart.clinic)).failures == 10


ATTACKER_IP = "203.0.113.66"


def _source_subject(clinic, address=ATTACKER_IP):
    request = RequestFactory().post("/portal/sign-in/password/", REMOTE_ADDR=address)
    return locks.subject_for_source(clinic=clinic, request=request, what="password")


def test_a_hundred_failures_from_one_source_lock_it_until_the_clinic_unlocks(chart, front_desk):
    subject = _source_subject(chart.clinic)
    SignInLockFactory(clinic=chart.clinic, subject=subject, failures=99)
    c = host_client(committing=True, REMOTE_ADDR=ATTACKER_IP)
    wrong_password = {"login": "nobody@example.com", "password": "guess"}
    text = _locked_text(c.post("/portal/sign-in/password/", wrong_password))
    assert "locked until the clinic unlocks it" in text
    assert "(613) 555-0100" in text
    _locked_text(c.post("/portal/sign-in/password/", wrong_password))
    lock = SignInLock.objects.get(subject=subject)
    assert lock.hard_locked
    assert lock.failures == 100
    assert AuditEvent.objects.filter(action="signin.hard_locked").count() == 1
    # Another connection is not locked by it.
    other = host_client(committing=True, REMOTE_ADDR="198.51.100.20")
    assert other.post("/portal/sign-in/password/", wrong_password).status_code == 200

    admin = staff_client(front_desk, committing=True)
    listing = admin.get("/admin/patients/signinlock/")
    assert listing.status_code == 200
    response = admin.post(
        "/admin/patients/signinlock/", {"action": "unlock", "_selected_action": [lock.pk]}
    )
    assert response.status_code == 302
    lock.refresh_from_db()
    assert (lock.hard_locked, lock.failures, lock.locked_until) == (False, 0, None)
    event = AuditEvent.objects.get(action="signin.unlocked")
    assert event.actor == front_desk
    assert event.clinic == chart.clinic
    assert c.post("/portal/sign-in/password/", wrong_password).status_code == 200


def test_a_hundred_failures_against_an_id_and_contact_only_cool_it_off(chart, frozen):
    """An ID + contact belongs to a patient: wrong codes (a stranger's) cool it off every
    ten, and never lock it until staff unlock it."""
    subjects = [(_identity_subject(chart.clinic), None)]
    device = PasscodeDeviceFactory(clinic=chart.clinic, destination=CHART_MOBILE, valid_until=NOW)
    code = device.issue_code(valid_secs=600)
    outcomes = []
    for _ in range(120):
        device.refresh_from_db()
        if device.token is None:
            # Five wrong tries killed the code; the attacker asks for another.
            code = device.issue_code(valid_secs=600)
        result = passcodes.passcode_verify(
            request=None,
            clinic=chart.clinic,
            device_id=device.pk,
            flow=device.flow,
            purpose="signin",
            code=wrong(code),
            subjects=subjects,
        )
        outcomes.append(result.outcome)
        if result.outcome is Proof.LOCKED:
            assert result.retry_at is not True
            frozen.shift(timedelta(minutes=15, seconds=1))
    assert outcomes.count(Proof.LOCKED) == 12
    lock = SignInLock.objects.get(subject=subjects[0][0])
    assert not lock.hard_locked
    frozen.shift(timedelta(minutes=15, seconds=1))
    assert not lock.is_locked()
    assert AuditEvent.objects.filter(action="signin.locked").count() == 12
    assert not AuditEvent.objects.filter(action="signin.hard_locked").exists()


def test_staff_of_another_clinic_cannot_unlock(chart, other_clinic, outsider_staff):
    lock = SignInLockFactory(
        clinic=chart.clinic, subject=_identity_subject(chart.clinic), hard_locked=True
    )
    response = staff_client(outsider_staff, committing=True).post(
        "/admin/patients/signinlock/", {"action": "unlock", "_selected_action": [lock.pk]}
    )
    assert response.status_code in (200, 302)
    lock.refresh_from_db()
    assert lock.hard_locked
    assert not AuditEvent.objects.filter(action="signin.unlocked").exists()


# --- Send limits ------------------------------------------------------------------------


def _send(*, contact=CHART_MOBILE, **client_kwargs):
    """A new visitor's steps 1 to 3; returns the answer to Next."""
    return begin(host_client(committing=True, **client_kwargs), contact=contact)[2]


def test_it_refuses_a_sixth_code_to_the_same_number_within_the_hour(chart, frozen):
    for _ in range(5):
        assert _send()["Location"] == CODE_PAGE
    assert len(sms.outbox) == 5
    refused = _send()
    assert refused.status_code == 200
    assert "Too many codes were sent to this contact" in refused.content.decode()
    assert len(sms.outbox) == 5
    assert _send(contact=OTHER_MOBILE)["Location"] == CODE_PAGE
    frozen.shift(timedelta(hours=1, minutes=1))
    assert _send()["Location"] == CODE_PAGE
    assert len(sms.outbox) == 7


def test_it_limits_the_codes_one_address_asks_for(chart, settings, frozen):
    settings.PORTAL_OTP_SENDS_PER_IP = "3/h"
    for n in range(3):
        assert _send(contact=f"+1613555020{n}")["Location"] == CODE_PAGE
    refused = _send(contact="+16135550209")
    assert refused.status_code == 200
    assert "Too many codes were requested from this connection" in refused.content.decode()
    assert len(sms.outbox) == 3
    # Another address still may.
    assert _send(contact="+16135550208", REMOTE_ADDR="198.51.100.7")["Location"] == CODE_PAGE


def test_it_ignores_forwarded_for_unless_proxies_are_trusted(chart, settings, frozen):
    settings.PORTAL_OTP_SENDS_PER_IP = "3/h"
    for n in range(3):
        _send(contact=f"+1613555020{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    refused = _send(contact="+16135550209", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert "Too many codes were requested from this connection" in refused.content.decode()
    assert len(sms.outbox) == 3

    settings.PORTAL_TRUSTED_PROXY_COUNT = 1
    allowed = _send(contact="+16135550208", HTTP_X_FORWARDED_FOR="203.0.113.98")
    assert allowed["Location"] == CODE_PAGE


def test_it_limits_the_codes_a_clinic_sends(chart, other_clinic, settings, frozen):
    settings.PORTAL_OTP_SENDS_PER_CLINIC = "2/h"
    assert _send(contact="+16135550200", REMOTE_ADDR="198.51.100.1")["Location"] == CODE_PAGE
    assert _send(contact="+16135550201", REMOTE_ADDR="198.51.100.2")["Location"] == CODE_PAGE
    refused = _send(contact="+16135550202", REMOTE_ADDR="198.51.100.3")
    assert refused.status_code == 200
    assert "The clinic cannot send more codes right now" in refused.content.decode()
    assert len(sms.outbox) == 2
    # Another clinic's allowance is its own.
    other = host_client("northside", REMOTE_ADDR="198.51.100.4", committing=True)
    assert begin(other, contact="+16135550203")[2]["Location"] == CODE_PAGE


def test_it_refuses_a_resend_within_a_minute(chart, frozen):
    c = host_client(committing=True)
    begin(c)
    first = last_code()
    frozen.shift(59)
    response = c.post(RESEND, follow=True)
    assert "A code was sent a moment ago" in response.content.decode()
    assert len(sms.outbox) == 1
    frozen.shift(1)
    response = c.post(RESEND, follow=True)
    assert "We sent a new code" in response.content.decode()
    assert len(sms.outbox) == 2
    fresh = last_code()
    if fresh != first:
        assert "That code is not right" in enter_code(c, first).content.decode()
    assert enter_code(c, fresh)["Location"] == "/portal/"


def test_resends_count_against_the_number_too(chart, frozen, settings):
    # No wait between resends, so all six fall in one of django-ratelimit's fixed windows
    # (their edges depend on the key, so minutes of clock shifting could cross one).
    settings.PORTAL_OTP_RESEND_AFTER_SECONDS = 0
    c = host_client(committing=True)
    begin(c)
    for _ in range(4):
        c.post(RESEND)
    assert len(sms.outbox) == 5
    response = c.post(RESEND, follow=True)
    assert "Too many codes were sent to this contact" in response.content.decode()
    assert len(sms.outbox) == 5


# --- Sessions ---------------------------------------------------------------------------


def test_a_session_made_on_one_clinic_is_anonymous_on_another(chart, other_clinic):
    demo = host_client(committing=True)
    sign_in(demo)
    assert signed_in(demo)
    northside = host_client("northside", committing=True)
    northside.cookies["sessionid"] = demo.cookies["sessionid"].value
    response = northside.get("/portal/account/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/?next=%2Fportal%2Faccount%2F"
    start = northside.get("/portal/")
    assert start.status_code == 200
    assert "Identification" in start.content.decode()
    assert "Margaret" not in start.content.decode()


def test_a_code_from_one_clinic_does_not_verify_on_another(chart, other_clinic):
    demo = host_client(committing=True)
    begin(demo, id_number="5550001111", contact=OTHER_MOBILE)
    northside = host_client("northside", committing=True)
    northside.cookies["sessionid"] = demo.cookies["sessionid"].value
    response = enter_code(northside, last_code())
    # The pending sign-in belongs to demo: on northside there is none, so back to the start.
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert not signed_in(northside)


def test_a_request_after_the_idle_timeout_is_signed_out(chart, frozen):
    c = host_client(committing=True)
    sign_in(c)
    frozen.shift(timedelta(minutes=29))
    assert signed_in(c)
    frozen.shift(timedelta(minutes=31))
    response = c.get("/portal/account/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/?next=%2Fportal%2Faccount%2F"
    assert not signed_in(c)
    page = c.get("/portal/").content.decode()
    assert "You were signed out after a period without activity" in page
    assert AuditEvent.objects.filter(action="signout.idle").count() == 1


def test_the_idle_timeout_is_the_clinics(chart, frozen):
    chart.clinic.portal_settings.idle_timeout_minutes = 5
    chart.clinic.portal_settings.save()
    c = host_client(committing=True)
    sign_in(c)
    frozen.shift(timedelta(minutes=6))
    assert not signed_in(c)


def test_a_session_ends_after_twelve_hours_however_active(chart, frozen):
    c = host_client(committing=True)
    sign_in(c)
    for step in range(1, 36):  # every 20 minutes until 11 h 40
        frozen.shift(timedelta(minutes=20))
        assert signed_in(c), f"signed out after {step * 20} minutes"
    frozen.shift(timedelta(minutes=21))  # 12 h 01
    response = c.get("/portal/account/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/?next=%2Fportal%2Faccount%2F"
    assert "sessions end after 12 hours" in c.get("/portal/").content.decode()
    assert not signed_in(c)
    assert AuditEvent.objects.filter(action="signout.expired").count() == 1


def test_sign_in_gives_a_new_session_key(chart):
    c = host_client(committing=True)
    begin(c)
    before = c.session.session_key
    assert before
    sign_in_response = enter_code(c, last_code())
    assert sign_in_response["Location"] == "/portal/"
    after = c.cookies["sessionid"].value
    assert after != before
    assert not _session_store()().exists(before)
    assert signed_in(c)


def test_signing_out_flushes_the_session(chart):
    c = host_client(committing=True)
    sign_in(c)
    key = c.cookies["sessionid"].value
    response = c.post("/portal/sign-out/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert not _session_store()().exists(key)
    assert not signed_in(c)
    assert "You are signed out." in c.get("/portal/").content.decode()
    assert AuditEvent.objects.filter(action="signout.signout").count() == 1


def test_signed_in_pages_are_not_stored(chart):
    c = host_client(committing=True)
    sign_in(c)
    for path in ["/portal/", "/portal/account/", "/portal/account/activity/"]:
        response = c.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path
    assert "no-store" in host_client(committing=True).get("/portal/")["Cache-Control"]


def test_sign_out_of_all_devices_ends_the_other_sessions(rosa):
    patient = PatientAccess.objects.get(user=rosa).patient
    phone, laptop = portal_client(rosa, patient), portal_client(rosa, patient)
    assert laptop.get("/portal/account/").status_code == 200
    response = phone.post("/portal/account/sign-out-everywhere/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert laptop.get("/portal/account/")["Location"] == "/portal/?next=%2Fportal%2Faccount%2F"
    assert phone.get("/portal/account/")["Location"] == "/portal/?next=%2Fportal%2Faccount%2F"
    assert AuditEvent.objects.filter(action="signout.all_devices", actor=rosa).exists()


def test_sign_out_of_all_devices_needs_a_post(rosa):
    c = portal_client(rosa)
    assert c.get("/portal/account/sign-out-everywhere/").status_code == 405


# --- Audit and secrets ------------------------------------------------------------------


def test_it_records_success_failure_lockout_and_unlock(chart, front_desk, frozen):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    enter_code(c, wrong(code))
    failed = AuditEvent.objects.get(action="signin.failed")
    assert failed.details == {"method": "passcode"}
    assert failed.clinic == chart.clinic
    assert failed.ip == "127.0.0.1"

    assert enter_code(c, code)["Location"] == "/portal/"
    success = AuditEvent.objects.get(action="signin.success")
    user = PatientAccess.objects.get(patient=chart).user
    assert success.actor == user
    assert success.acting_for == chart
    assert success.details == {"method": "passcode"}

    other = host_client(committing=True)
    begin(other, contact=OTHER_MOBILE)
    fail_in_a_row(other, 10, frozen)
    assert AuditEvent.objects.filter(action="signin.failed").count() == 11
    # Ten in a row lock the ID + contact and the connection they came from.
    identity_lock = SignInLock.objects.get(
        subject=_identity_subject(chart.clinic, destination=OTHER_MOBILE)
    )
    locked = AuditEvent.objects.get(action="signin.locked", object_id=str(identity_lock.pk))
    assert locked.details == {"failures": 10, "method": "passcode"}
    assert locked.object_type == "patients.signinlock"
    assert AuditEvent.objects.filter(action="signin.locked").count() == 2

    lock = identity_lock
    staff_client(front_desk, committing=True).post(
        "/admin/patients/signinlock/", {"action": "unlock", "_selected_action": [lock.pk]}
    )
    unlocked = AuditEvent.objects.get(action="signin.unlocked")
    assert unlocked.actor == front_desk


def test_no_code_or_password_is_logged_audited_or_kept(chart, rosa, caplog, frozen):
    password = "a long and unusual passphrase 7"
    for name in ["", "django", "django.request", "django.server", "celery", "patients"]:
        caplog.set_level(logging.DEBUG, logger=name)
    codes = []
    previous_debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True  # SQL goes to the django.db.backends log too
    try:
        with CaptureQueriesContext(connection) as queries:
            c = host_client(committing=True)
            begin(c)
            codes.append(last_code())
            enter_code(c, wrong(codes[-1]))
            frozen.shift(61)
            c.post(RESEND)
            codes.append(last_code())
            assert enter_code(c, codes[-1])["Location"] == "/portal/"
            c.post(
                "/portal/account/password/",
                {"new_password1": password, "new_password2": password},
            )
            c.post("/portal/sign-out/")
            c.post("/portal/sign-in/password/", {"login": CHART_MOBILE, "password": "nope" * 4})
            assert (
                c.post("/portal/sign-in/password/", {"login": CHART_MOBILE, "password": password})[
                    "Location"
                ]
                == "/portal/"
            )
            # A new patient, by email.
            other = host_client(committing=True)
            begin(other, id_number="7777777777", contact="new@example.com", contact_type="email")
            codes.append(last_code("email"))
            assert enter_code(other, codes[-1])["Location"] == "/portal/register/"
    finally:
        connection.force_debug_cursor = previous_debug_cursor

    assert caplog.records, "nothing was captured: the check below would prove nothing"
    assert any(r.name == "django.db.backends" for r in caplog.records)
    secrets = [re.compile(rf"\b{code}\b") for code in codes] + [re.compile(re.escape(password))]
    texts = {
        "log": [r.getMessage() + (r.exc_text or "") for r in caplog.records],
        "sql": [q["sql"] for q in queries.captured_queries],
        "audit": [json.dumps(e.details) for e in AuditEvent.objects.all()],
        "notification": [json.dumps(n.context) + n.last_error for n in Notification.objects.all()],
    }
    for where, lines in texts.items():
        for line in lines:
            for secret in secrets:
                assert not secret.search(line), f"{where}: {line}"
    assert AuditEvent.objects.filter(action="signin.failed").count() == 2
    assert AuditEvent.objects.filter(action="password.changed").exists()


def test_a_passcode_notification_holds_only_ids(chart):
    c = host_client(committing=True)
    begin(c)
    device = PasscodeDevice.objects.get()
    notification = Notification.objects.get(template="passcode")
    assert notification.context == {"device_id": device.pk, "send": 1}
    assert all(isinstance(v, int) for v in notification.context.values())
    assert notification.recipient == CHART_MOBILE
    assert notification.status == Notification.Status.SENT


def test_session_data_never_holds_the_code(chart):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    data = c.session.load()
    assert code not in json.dumps(data)
    assert set(data["portal_signin"]) == {
        "clinic",
        "id_type",
        "id_number",
        "channel",
        "destination",
        "device_id",
        "flow",
    }


# --- Concurrency (PostgreSQL) -----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_code_sent_ten_times_at_once_signs_in_once(clinic):
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL row locks (select_for_update); the database is {connection.vendor}"
        )
    patient = PatientFactory(clinic=clinic, mobile=CHART_MOBILE)
    PatientIdentifierFactory(patient=patient, number=CHART_ID)
    device = PasscodeDeviceFactory(clinic=clinic, destination=CHART_MOBILE, valid_until=NOW)
    code = device.issue_code(valid_secs=600)
    subjects = [(_identity_subject(clinic), None)]
    barrier = threading.Barrier(10)
    outcomes, errors = [], []

    def submit():
        try:
            request = RequestFactory().post(CODE_PAGE, REMOTE_ADDR="198.51.100.9")
            request.clinic = clinic
            request.user = AnonymousUser()
            barrier.wait(timeout=10)
            result = passcodes.passcode_verify(
                request=request,
                clinic=clinic,
                device_id=device.pk,
                flow=str(device.flow),
                purpose="signin",
                code=code,
                subjects=subjects,
            )
            outcomes.append(result.outcome)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(outcomes) == 10
    assert outcomes.count(Proof.OK) == 1
    assert set(outcomes) - {Proof.OK} <= {Proof.EXPIRED}
    device.refresh_from_db()
    assert device.token is None
    assert mail.outbox == []
