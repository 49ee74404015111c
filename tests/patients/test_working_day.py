"""A patient's working day: the idle timeout keeps what was typed, every sign-in returns
to the page asked for, the clinic's versioned terms, recovery codes, and account
activity in plain words."""

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.test import RequestFactory
from django_otp.oath import TOTP

from clinics.models import PortalTerms
from clinics.terms import DEFAULT_TERMS_FR, terms_current, terms_publish
from messaging.models import Message
from patients import recovery
from patients.activity import activity_rows
from patients.models import PatientAccess, RecoveryCode, TermsAcceptance
from patients.returns import safe_next
from portal.audit.models import AuditEvent
from portal.audit.services import audit_record
from tests.clients import host_client, portal_client
from tests.factories import (
    TEST_PASSWORD,
    PatientAccessFactory,
    PatientFactory,
    TOTPDeviceFactory,
    portal_settings_of,
)
from tests.messaging.threads import start_thread

pytestmark = pytest.mark.django_db

PASSWORD_SIGN_IN = "/portal/sign-in/password/"
NEW_MESSAGE = "/portal/messages/new/"
ROSA_LOGIN = "rosa@example.com"


def _password_sign_in(c, login=ROSA_LOGIN, next_url=None):
    url = PASSWORD_SIGN_IN + (f"?next={quote(next_url, safe='')}" if next_url else "")
    return c.post(url, {"login": login, "password": TEST_PASSWORD})


def _totp(device):
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


# --- 2. Every sign-in returns to the page asked for, on this host only ------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/portal/messages/",
        "//evil.example/portal/messages/",
        "///evil.example/portal/",
        "/\\evil.example/portal/",
        "\\\\evil.example/portal/",
        "/portal\\..\\evil",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " /portal/messages/",
        "http://demo.localhost.evil.example/portal/",
        "/admin/",
        "/portal/sign-out/",
        "/portal/../admin/",
        "/portal/%2e%2e/admin/",
        "/portal/x/../password-reset/MQ/abc-123/",
        "/portal/.//admin/",
        "",
        None,
    ],
)
def test_a_next_to_another_host_scheme_or_page_is_refused(url):
    request = RequestFactory().get("/portal/", HTTP_HOST="demo.localhost")
    assert safe_next(request, url) is None


def test_a_next_on_this_host_is_kept_as_a_path():
    request = RequestFactory().get("/portal/", HTTP_HOST="demo.localhost")
    assert safe_next(request, "/portal/messages/7/?page=2") == "/portal/messages/7/?page=2"
    assert safe_next(request, "http://demo.localhost/portal/account/") == "/portal/account/"


def test_https_pages_accept_no_plain_http_next():
    request = RequestFactory().get("/portal/", HTTP_HOST="demo.localhost", secure=True)
    assert safe_next(request, "http://demo.localhost/portal/account/") is None
    assert safe_next(request, "/portal/account/") == "/portal/account/"


def test_a_link_from_an_email_lands_on_the_message_after_a_passcode_sign_in(
    rosa, front_desk, sms_outbox
):
    thread = start_thread(front_desk, PatientAccess.objects.get(user=rosa).patient)
    c = host_client(committing=True)
    asked = f"/portal/messages/{thread.pk}/"
    response = c.get(asked)
    assert response["Location"] == f"/portal/?next={quote(asked, safe='')}"
    c.get(response["Location"])
    after = c.post(PASSWORD_SIGN_IN, {"login": ROSA_LOGIN, "password": TEST_PASSWORD})
    assert after["Location"] == asked


def test_the_password_sign_in_refuses_a_next_to_another_host(rosa):
    c = host_client(committing=True)
    response = _password_sign_in(c, next_url="//evil.example/portal/")
    assert response["Location"] == "/portal/"


def test_the_authenticator_step_keeps_the_page_asked_for(rosa, frozen):
    device = TOTPDeviceFactory(user=rosa)
    c = host_client(committing=True)
    first = _password_sign_in(c, next_url="/portal/account/activity/")
    assert first["Location"] == "/portal/sign-in/authenticator/"
    frozen.shift(device.step)
    device.refresh_from_db()
    second = c.post("/portal/sign-in/authenticator/", {"code": _totp(device)})
    assert second["Location"] == "/portal/account/activity/"


def test_an_invitation_still_returns_to_the_invitation():
    request = RequestFactory().get("/portal/", HTTP_HOST="demo.localhost")
    assert safe_next(request, "/portal/invitation/") == "/portal/invitation/"


# --- 1. Idle warning and drafts kept across the timeout ---------------------------------


def test_the_page_tells_the_idle_warning_the_time_the_server_gives(rosa, frozen):
    c = portal_client(rosa)
    frozen.shift(timedelta(seconds=30))  # the session's clock is touched once a minute
    page = c.get("/portal/account/").content.decode()
    assert 'data-idle-left="1770"' in page  # 30 minutes, 30 seconds gone
    assert "Stay signed in" in page
    assert "js/idle.js" in page


def test_stay_signed_in_resets_the_servers_idle_clock(rosa, frozen):
    c = portal_client(rosa)
    frozen.shift(timedelta(minutes=25))
    answer = c.post("/portal/session/keep-alive/")
    assert answer.status_code == 200
    assert json.loads(answer.content) == {"signed_in": True, "idle_left": 1800}
    frozen.shift(timedelta(minutes=25))
    assert c.get("/portal/account/").status_code == 200


def test_stay_signed_in_after_the_timeout_says_signed_out(rosa, frozen):
    c = portal_client(rosa)
    frozen.shift(timedelta(minutes=31))
    answer = c.post("/portal/session/keep-alive/")
    assert answer.status_code == 401
    assert json.loads(answer.content) == {"signed_in": False}


def test_the_keep_alive_reads_no_chart(rosa, django_assert_max_num_queries):
    c = portal_client(rosa)
    c.get("/portal/terms/")  # the clinic's cached entry is warm, as it is in use
    # The session and the user, then the session's new idle clock: no grant, no chart.
    # (3 with the Redis-backed session cache, 4 with sessions in the database.)
    with django_assert_max_num_queries(4) as queries:
        assert c.post("/portal/session/keep-alive/").status_code == 200
    assert not [q for q in queries.captured_queries if "patients_" in q["sql"]]


def _time_out_while_writing(c, frozen, url, data):
    frozen.shift(timedelta(minutes=31))
    response = c.post(url, data)
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    return response


def test_a_message_written_after_the_timeout_comes_back_after_signing_in(rosa, frozen):
    portal_settings_of(rosa.clinic, patient_messages_allowed=True)
    c = host_client(committing=True)
    _password_sign_in(c)
    body = "Could you renew my prescription for the inhaler?"
    data = {"subject": "Prescription", "category": "general", "body": body}
    _time_out_while_writing(c, frozen, NEW_MESSAGE, data)
    assert not Message.objects.exists()
    assert "What you were typing is kept" in c.get("/portal/").content.decode()

    back = _password_sign_in(c)
    assert back["Location"] == NEW_MESSAGE
    form = c.get(NEW_MESSAGE).content.decode()
    assert body in form
    assert body not in c.get(NEW_MESSAGE).content.decode()  # shown once


def test_a_reply_written_after_the_timeout_comes_back_on_its_thread(rosa, front_desk, frozen):
    thread = start_thread(front_desk, PatientAccess.objects.get(user=rosa).patient)
    url = f"/portal/messages/{thread.pk}/"
    c = host_client(committing=True)
    _password_sign_in(c)
    _time_out_while_writing(c, frozen, url, {"body": "Thank you, I will call tomorrow."})
    assert _password_sign_in(c)["Location"] == url
    assert "Thank you, I will call tomorrow." in c.get(url).content.decode()


def test_a_change_request_written_after_the_timeout_comes_back(rosa, frozen):
    url = "/portal/my-information/change/"
    c = host_client(committing=True)
    _password_sign_in(c)
    _time_out_while_writing(c, frozen, url, {"city": "Gatineau", "first_name": "Rosa"})
    assert _password_sign_in(c)["Location"] == url
    assert 'value="Gatineau"' in c.get(url).content.decode()


def test_another_account_signing_in_on_the_same_browser_never_sees_the_draft(rosa, clinic, frozen):
    portal_settings_of(clinic, patient_messages_allowed=True)
    other_chart = PatientFactory(clinic=clinic, email="sam@example.com")
    PatientAccessFactory(patient=other_chart, user__username="sam")
    c = host_client(committing=True)
    _password_sign_in(c)
    secret = "My test results worry me"
    _time_out_while_writing(
        c, frozen, NEW_MESSAGE, {"subject": "Results", "category": "general", "body": secret}
    )
    _password_sign_in(c, login="sam@example.com")
    assert secret not in c.get(NEW_MESSAGE).content.decode()
    c.post("/portal/sign-out/")
    _password_sign_in(c)
    assert secret not in c.get(NEW_MESSAGE).content.decode()  # thrown away, not kept


def test_a_forged_post_after_the_timeout_plants_no_draft(rosa, frozen):
    """Another site's form posted into the timed-out session (no CSRF token) is not kept:
    the patient would find the forger's text in their own form after signing in."""
    portal_settings_of(rosa.clinic, patient_messages_allowed=True)
    c = host_client(committing=True)
    _password_sign_in(c)
    c.handler.enforce_csrf_checks = True
    forged = {"subject": "Records", "category": "general", "body": "Send my file to evil"}
    frozen.shift(timedelta(minutes=31))
    c.post(NEW_MESSAGE, forged, HTTP_ORIGIN="http://evil.example")
    c.handler.enforce_csrf_checks = False
    _password_sign_in(c)
    assert "Send my file to evil" not in c.get(NEW_MESSAGE).content.decode()


def test_a_draft_is_short_lived(rosa, frozen):
    portal_settings_of(rosa.clinic, patient_messages_allowed=True)
    c = host_client(committing=True)
    _password_sign_in(c)
    _time_out_while_writing(
        c, frozen, NEW_MESSAGE, {"subject": "Later", "category": "general", "body": "Old text"}
    )
    frozen.shift(timedelta(minutes=31))
    _password_sign_in(c)
    assert "Old text" not in c.get(NEW_MESSAGE).content.decode()


# --- 3. Versioned terms ------------------------------------------------------------------


def test_a_new_clinic_starts_with_default_terms_in_both_languages(clinic):
    terms = terms_current(clinic=clinic)
    assert terms.version == 1
    assert clinic.portal_settings.terms_version == 1
    assert terms.text("fr") == DEFAULT_TERMS_FR.strip()
    assert "emergency" in terms.text("en")


def test_the_terms_page_shows_the_version_in_force_to_anyone(clinic):
    terms_publish(clinic=clinic, text_en="Be kind to the front desk.", text_fr="Soyez aimable.")
    page = host_client().get("/portal/terms/").content.decode()
    assert "Be kind to the front desk." in page
    assert "Version 2" in page


def test_publishing_makes_a_new_row_and_keeps_the_old(clinic):
    first = terms_current(clinic=clinic)
    terms_publish(clinic=clinic, text_en="New text")
    assert PortalTerms.objects.for_clinic(clinic).count() == 2
    first.refresh_from_db()
    assert first.text_en != "New text"


def test_new_terms_are_asked_for_before_any_other_page_then_it_goes_on(rosa, clinic):
    c = portal_client(rosa)
    terms_publish(clinic=clinic, text_en="Version two of the rules.")
    response = c.get("/portal/account/activity/")
    assert response["Location"] == "/portal/terms/accept/"
    page = c.get("/portal/terms/accept/").content.decode()
    assert "Version two of the rules." in page
    assert 'href="/portal/terms/"' in page
    refused = c.post("/portal/terms/accept/", {"version": "2"})
    assert refused.status_code == 200  # the box must be ticked
    done = c.post("/portal/terms/accept/", {"version": "2", "accept": "on"})
    assert done["Location"] == "/portal/account/activity/"
    acceptance = TermsAcceptance.objects.get(user=rosa)
    assert acceptance.terms.version == 2
    assert c.get("/portal/account/activity/").status_code == 200
    account = c.get("/portal/account/").content.decode()
    assert "You accepted version 2" in account
    assert AuditEvent.objects.filter(action="terms.accepted", actor=rosa).exists()


def test_a_version_published_while_the_page_was_open_is_shown_first(rosa, clinic):
    c = portal_client(rosa)
    terms_publish(clinic=clinic, text_en="Two")
    terms_publish(clinic=clinic, text_en="Three")
    c.post("/portal/terms/accept/", {"version": "2", "accept": "on"})
    assert not TermsAcceptance.objects.filter(user=rosa).exists()


def test_registration_shows_links_and_records_the_terms(clinic):
    from tests.patients.flows import NEW_ID, NEW_MOBILE, begin, enter_code, last_code
    from tests.patients.flows import registration_form as details

    c = host_client(committing=True)
    begin(c, id_number=NEW_ID, contact=NEW_MOBILE)
    enter_code(c, last_code())
    page = c.get("/portal/register/").content.decode()
    assert "emergency services" in page
    assert 'href="/portal/terms/"' in page
    c.post("/portal/register/", details())
    acceptance = TermsAcceptance.objects.get()
    assert acceptance.terms.version == 1


# --- 4. Recovery codes -------------------------------------------------------------------


def _enrol(c, user, frozen):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    c.get("/portal/account/authenticator/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = c.post("/portal/account/authenticator/", {"code": _totp(device)})
    assert response["Location"] == "/portal/account/recovery-codes/"
    frozen.shift(device.step)
    return device


def _codes_on(page):
    import re

    return re.findall(r"<li>([0-9A-Z]{5}-[0-9A-Z]{5})</li>", page)


def test_setting_up_an_authenticator_shows_ten_codes_once_stored_hashed(rosa, frozen):
    c = portal_client(rosa)
    _enrol(c, rosa, frozen)
    codes = _codes_on(c.get("/portal/account/recovery-codes/").content.decode())
    assert len(codes) == len(set(codes)) == 10
    assert _codes_on(c.get("/portal/account/recovery-codes/").content.decode()) == []
    stored = list(RecoveryCode.objects.filter(user=rosa).values_list("digest", flat=True))
    assert len(stored) == 10
    assert not any(code.replace("-", "") in d or code in d for code in codes for d in stored)
    assert AuditEvent.objects.filter(action="recovery_codes.generated", actor=rosa).exists()


def test_a_recovery_code_signs_in_once_instead_of_the_app(rosa, frozen):
    TOTPDeviceFactory(user=rosa)
    codes = recovery.recovery_codes_generate(request=None, user=rosa)
    c = host_client(committing=True)
    assert _password_sign_in(c)["Location"] == "/portal/sign-in/authenticator/"
    assert "Use a recovery code" in c.get("/portal/sign-in/authenticator/").content.decode()
    typed = codes[3].lower().replace("-", " ")  # case and separators do not matter
    done = c.post("/portal/sign-in/recovery-code/", {"code": typed})
    assert done["Location"] == "/portal/"
    assert c.get("/portal/account/").status_code == 200
    event = AuditEvent.objects.filter(action="signin.success", actor=rosa).get()
    assert event.details["method"] == "password+recovery_code"
    assert AuditEvent.objects.filter(action="recovery_code.used", actor=rosa).exists()

    again = host_client(committing=True)
    _password_sign_in(again)
    reused = again.post("/portal/sign-in/recovery-code/", {"code": codes[3]})
    assert reused.status_code == 200
    assert "already used" in reused.content.decode()
    assert again.get("/portal/account/").status_code == 302


def test_a_recovery_code_is_no_first_factor(rosa):
    TOTPDeviceFactory(user=rosa)
    codes = recovery.recovery_codes_generate(request=None, user=rosa)
    c = host_client(committing=True)
    response = c.post("/portal/sign-in/recovery-code/", {"code": codes[0]})
    assert response["Location"] == "/portal/"
    assert c.get("/portal/account/").status_code == 302


def test_making_new_codes_voids_the_old(rosa, frozen):
    c = portal_client(rosa)
    _enrol(c, rosa, frozen)
    old = _codes_on(c.get("/portal/account/recovery-codes/").content.decode())
    c.post("/portal/account/recovery-codes/")
    new = _codes_on(c.get("/portal/account/recovery-codes/").content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    proof = recovery.recovery_code_verify(request=None, user=rosa, code=old[0])
    assert proof.proof is None


def test_wrong_recovery_codes_count_against_the_account(rosa):
    TOTPDeviceFactory(user=rosa)
    recovery.recovery_codes_generate(request=None, user=rosa)
    for _ in range(10):
        result = recovery.recovery_code_verify(request=None, user=rosa, code="AAAAA-AAAAA")
    assert result.outcome.name == "LOCKED"


def test_removing_the_authenticator_removes_its_recovery_codes(rosa):
    from patients.authenticator import totp_remove

    device = TOTPDeviceFactory(user=rosa)
    recovery.recovery_codes_generate(request=None, user=rosa)
    assert totp_remove(request=None, user=rosa, code=_totp(device))
    assert not RecoveryCode.objects.filter(user=rosa).exists()


# --- 5. Account activity in plain words ----------------------------------------------------


def test_repeated_reads_are_one_row_with_a_count(rosa, frozen):
    patient = PatientAccess.objects.get(user=rosa).patient
    for _ in range(8):
        audit_record(action="message.read", clinic=rosa.clinic, actor=rosa, acting_for=patient)
        frozen.shift(timedelta(minutes=3))
    c = portal_client(rosa)
    page = c.get("/portal/account/activity/").content.decode()
    assert page.count("Read messages") == 1
    assert "×8" in page
    assert "Today" in page


def test_failed_sign_ins_are_never_put_down_to_you(rosa):
    c = host_client(committing=True)
    c.post(PASSWORD_SIGN_IN, {"login": ROSA_LOGIN, "password": "not it"})
    events = AuditEvent.objects.filter(action="signin.failed")
    [row] = activity_rows(events, viewer=rosa)
    assert str(row.what) == "Someone tried to sign in with a wrong password"
    assert str(row.who) != "You"


def test_a_wrong_code_for_a_new_mobile_is_no_failed_sign_in(rosa, sms_outbox):
    c = portal_client(rosa, committing=True)
    c.post("/portal/account/contact/", {"contact_type": "sms", "contact": "+16135550166"})
    c.post("/portal/account/contact/confirm/", {"code": "000000"})
    assert not AuditEvent.objects.filter(action="signin.failed").exists()
    assert AuditEvent.objects.filter(action="account.contact_code_failed", actor=rosa).exists()
    page = c.get("/portal/account/activity/").content.decode()
    assert "Wrong code typed for a new sign-in contact" in page
    assert "Someone tried to sign in" not in page
