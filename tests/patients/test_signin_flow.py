"""Sign-in by ID + contact + one time passcode: what each proven contact leads to."""

import re

import pytest
from django.core import mail

from clinics.models import User
from patients.models import (
    PasscodeDevice,
    Patient,
    PatientAccess,
    PatientIdentifier,
    VerificationRequest,
)
from portal.notifications import sms
from tests.clients import host_client
from tests.factories import (
    PatientAccessFactory,
    PatientCategoryFactory,
    PatientIdentifierFactory,
)
from tests.patients.flows import (
    CHART_DOB_TEXTS,
    CHART_EMAIL,
    CHART_ID,
    CHART_ID_NORMALISED,
    CHART_MOBILE,
    CODE_RE,
    NEW_ID,
    NEW_MOBILE,
    OTHER_MOBILE,
    begin,
    enter_code,
    last_code,
    registration_form,
    sign_in,
    signed_in,
    strip_csrf,
    wrong,
)

pytestmark = pytest.mark.django_db


# --- The steps --------------------------------------------------------------------------


def test_it_walks_the_four_steps_and_sends_a_code(clinic):
    c = host_client(committing=True)
    start = c.get("/portal/")
    assert start.status_code == 200
    assert b"Identification" in start.content
    identification, contact, check = begin(c, id_number=NEW_ID, contact="613-555-0142")
    assert identification.status_code == 302
    assert identification["Location"] == "/portal/sign-in/contact/"
    assert contact.status_code == 302
    assert contact["Location"] == "/portal/sign-in/check/"
    assert check.status_code == 302
    assert check["Location"] == "/portal/sign-in/code/"
    assert len(sms.outbox) == 1
    assert sms.outbox[0].to == NEW_MOBILE
    assert "Demo Family Clinic" in sms.outbox[0].body
    page = c.get("/portal/sign-in/code/")
    assert page.status_code == 200
    assert "0142" in page.content.decode()
    assert NEW_MOBILE not in page.content.decode()  # masked


def test_it_shows_what_was_entered_on_the_check_page(clinic):
    c = host_client(committing=True)
    c.post("/portal/", {"id_type": "health-card", "id_number": NEW_ID})
    c.post("/portal/sign-in/contact/", {"contact_type": "email", "contact": "Amara@Example.com"})
    page = c.get("/portal/sign-in/check/").content.decode()
    assert "1234567890" in page
    assert "amara@example.com" in page
    assert "Provincial health card" in page
    assert mail.outbox == []  # nothing is sent before Next


def test_it_sends_the_code_by_email(clinic):
    c = host_client(committing=True)
    begin(c, id_number=NEW_ID, contact="amara@example.com", contact_type="email")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["amara@example.com"]
    assert CODE_RE.search(mail.outbox[0].body)
    assert sms.outbox == []


def test_it_skips_no_step(clinic):
    c = host_client(committing=True)
    assert c.get("/portal/sign-in/contact/")["Location"] == "/portal/"
    assert c.get("/portal/sign-in/check/")["Location"] == "/portal/"
    assert c.get("/portal/sign-in/code/")["Location"] == "/portal/"
    assert c.get("/portal/register/")["Location"] == "/portal/"


def test_it_refuses_a_malformed_contact(clinic):
    c = host_client(committing=True)
    c.post("/portal/", {"id_type": "health-card", "id_number": NEW_ID})
    response = c.post("/portal/sign-in/contact/", {"contact_type": "sms", "contact": "12"})
    assert response.status_code == 200
    assert "Enter a mobile number with its area code" in response.content.decode()


# --- New patient ------------------------------------------------------------------------


def test_it_registers_a_new_patient_after_the_code(clinic):
    c = host_client(committing=True)
    proven = sign_in(c, id_number=NEW_ID, contact=NEW_MOBILE)
    assert proven.status_code == 302
    assert proven["Location"] == "/portal/register/"
    assert not signed_in(c)

    form = c.get("/portal/register/")
    assert form.status_code == 200
    assert b"Register" in form.content
    # The proven mobile is filled in, written as the clinic's country writes it.
    assert b'value="(613) 555-0142"' in form.content

    response = c.post("/portal/register/", registration_form(email="Amara@Example.com"))
    assert response.status_code == 302
    assert response["Location"] == "/portal/"

    patient = Patient.objects.get(last_name="Nwosu")
    assert patient.clinic == clinic
    assert patient.status == Patient.Status.PENDING
    assert patient.self_registered is True
    assert str(patient.date_of_birth) == "1990-07-04"
    identifier = PatientIdentifier.objects.get(patient=patient)
    assert identifier.number == "1234567890"
    assert identifier.id_type.code == "health-card"
    user = User.objects.get(clinic=clinic, phone=NEW_MOBILE)
    assert not user.is_staff
    assert not user.has_usable_password()
    grant = PatientAccess.objects.get(patient=patient)
    assert grant.user == user
    assert grant.relationship == PatientAccess.Relationship.SELF

    home = c.get("/portal/")
    assert home.status_code == 200
    content = home.content.decode()
    assert "Hello, Amara" in content
    assert "waiting for the clinic to verify" in content
    assert signed_in(c)


def test_it_registers_after_an_email_code_with_the_email_on_the_account(clinic):
    c = host_client(committing=True)
    proven = sign_in(c, id_number=NEW_ID, contact="amara@example.com", contact_type="email")
    assert proven["Location"] == "/portal/register/"
    assert (
        c.post("/portal/register/", registration_form(email="Amara@Example.com"))["Location"]
        == "/portal/"
    )
    user = User.objects.get(clinic=clinic, email="amara@example.com")
    assert PatientAccess.objects.get(user=user).patient.email == "amara@example.com"


def test_it_keeps_the_register_form_on_errors(clinic):
    c = host_client(committing=True)
    sign_in(c, id_number=NEW_ID, contact=NEW_MOBILE)
    response = c.post(
        "/portal/register/",
        registration_form(email="Amara@Example.com", consent="", date_of_birth="2999-01-01"),
    )
    assert response.status_code == 200
    assert "Enter your date of birth." in response.content.decode()
    assert not Patient.objects.exists()
    assert not signed_in(c)


def test_it_does_not_register_twice_for_the_same_id(clinic):
    first, second = host_client(committing=True), host_client(committing=True)
    sign_in(first, id_number=NEW_ID, contact=NEW_MOBILE)
    sign_in(second, id_number=NEW_ID, contact="+16135550143")
    assert (
        first.post("/portal/register/", registration_form(email="Amara@Example.com"))["Location"]
        == "/portal/"
    )
    response = second.post(
        "/portal/register/", registration_form(email="Amara@Example.com", mobile="613 555 0143")
    )
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert Patient.objects.count() == 1
    assert not signed_in(second)


def test_it_does_not_offer_registration_when_the_clinic_turned_it_off(clinic):
    clinic.portal_settings.self_registration_allowed = False
    clinic.portal_settings.save()
    c = host_client(committing=True)
    proven = sign_in(c, id_number=NEW_ID, contact=NEW_MOBILE)
    assert proven.get("Location") != "/portal/register/"
    c.post("/portal/register/", registration_form(email="Amara@Example.com"))
    assert not Patient.objects.exists()
    assert not signed_in(c)


# --- Returning patient ------------------------------------------------------------------


def test_it_signs_in_a_returning_patient_and_links_the_account_once(chart):
    first = host_client(committing=True)
    response = sign_in(first)
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    home = first.get("/portal/")
    assert home.status_code == 200
    assert "Hello, Margaret" in home.content.decode()

    user = User.objects.get(clinic=chart.clinic, phone=CHART_MOBILE)
    assert (user.first_name, user.last_name) == ("Margaret", "Oyelaran")
    grant = PatientAccess.objects.get(patient=chart)
    assert grant.user == user
    assert grant.relationship == "self"

    second = host_client(committing=True)
    assert sign_in(second)["Location"] == "/portal/"
    assert signed_in(second)
    assert PatientAccess.objects.filter(patient=chart).count() == 1
    assert User.objects.filter(clinic=chart.clinic, is_staff=False).count() == 1
    assert second.get("/portal/").wsgi_request.user == user


def test_it_signs_in_a_returning_patient_by_email_with_any_case(chart):
    c = host_client(committing=True)
    response = sign_in(c, contact=CHART_EMAIL.upper(), contact_type="email")
    assert response["Location"] == "/portal/"
    assert signed_in(c)
    assert PatientAccess.objects.get(patient=chart).user.email == CHART_EMAIL


def test_it_accepts_the_id_with_spaces_or_dashes(chart):
    c = host_client(committing=True)
    assert sign_in(c, id_number="4567-891-234")["Location"] == "/portal/"


def test_a_chart_contact_the_account_never_proved_does_not_reach_the_account(chart):
    """The chart's mobile is the clinic's record; the account signs in with its own
    contacts only. Proving the chart's mobile asks staff to confirm the person instead
    (otherwise whoever got their number onto the chart would reach the account)."""
    from tests.factories import UserFactory

    existing = UserFactory(clinic=chart.clinic, email=CHART_EMAIL, phone="")
    PatientAccessFactory(user=existing, patient=chart)
    c = host_client(committing=True)
    answer = sign_in(c)
    assert answer.status_code == 200
    assert "The clinic will confirm your identity" in answer.content.decode()
    assert "_auth_user_id" not in c.session
    existing.refresh_from_db()
    assert not existing.phone  # nothing was added to the account
    assert VerificationRequest.objects.filter(patient=chart).exclude(user=existing).exists()


def test_the_account_signs_in_with_its_own_contact_on_the_chart(chart):
    from tests.factories import UserFactory

    existing = UserFactory(clinic=chart.clinic, email=CHART_EMAIL, phone="")
    PatientAccessFactory(user=existing, patient=chart)
    c = host_client(committing=True)
    assert sign_in(c, contact=CHART_EMAIL.upper(), contact_type="email")["Location"] == "/portal/"
    assert c.get("/portal/").wsgi_request.user == existing
    assert PatientAccess.objects.filter(patient=chart).count() == 1


# --- ID known, contact different --------------------------------------------------------


def _shows_nothing_of(chart, content: str):
    for text in [chart.first_name, chart.last_name, *CHART_DOB_TEXTS, CHART_MOBILE, CHART_EMAIL]:
        assert text not in content, text
    assert "0123" not in content  # not even the masked chart mobile


def test_it_shows_nothing_of_the_chart_when_the_contact_differs(chart):
    c = host_client(committing=True)
    responses = list(begin(c, contact=OTHER_MOBILE))
    responses.append(c.get("/portal/sign-in/code/"))
    answer = enter_code(c, last_code())
    responses.append(answer)
    assert answer.status_code == 200
    assert "The clinic will confirm your identity" in answer.content.decode()
    for response in responses:
        _shows_nothing_of(chart, response.content.decode())
    assert sms.outbox[-1].to == OTHER_MOBILE

    assert not signed_in(c)
    assert c.get("/portal/account/")["Location"] == "/portal/?next=%2Fportal%2Faccount%2F"
    assert not PatientAccess.objects.filter(patient=chart).exists()
    request = VerificationRequest.objects.get(patient=chart)
    assert request.status == VerificationRequest.Status.PENDING
    assert (request.channel, request.destination) == ("sms", OTHER_MOBILE)
    assert str(request.user.phone) == OTHER_MOBILE
    assert request.clinic == chart.clinic


def test_it_keeps_one_pending_request_per_person_and_chart(chart):
    sign_in(host_client(committing=True), contact=OTHER_MOBILE)
    again = sign_in(host_client(committing=True), contact=OTHER_MOBILE)
    assert "The clinic will confirm your identity" in again.content.decode()
    assert VerificationRequest.objects.filter(patient=chart).count() == 1


# --- Known and unknown IDs look the same until the code is verified ---------------------


def _normalised(response, code=None):
    content = strip_csrf(response.content)
    if code:
        content = content.replace(code.encode(), b"<code>")
    return response.status_code, response.get("Location"), content


def _run_until_the_code(c):
    """Steps 1 to 4 and a wrong code; returns what a person sees at each, and the text."""
    seen = [_normalised(r) for r in begin(c, id_number=CHART_ID, contact=CHART_MOBILE)]
    seen.append(_normalised(c.get("/portal/sign-in/code/")))
    body = CODE_RE.sub("<code>", sms.outbox[-1].body)
    typed = wrong(last_code())
    seen.append(_normalised(enter_code(c, typed), typed))
    return seen, body


def test_it_answers_known_and_unknown_ids_identically_before_the_code(clinic):
    unknown, unknown_text = _run_until_the_code(host_client(committing=True))
    assert not Patient.objects.exists()

    # The same ID and mobile, now on a chart that has a portal account.
    from tests.factories import PatientFactory, UserFactory

    patient = PatientFactory(clinic=clinic, mobile=CHART_MOBILE, first_name="Known")
    PatientIdentifierFactory(patient=patient, number=CHART_ID)
    account = UserFactory(clinic=clinic, phone=CHART_MOBILE)
    PatientAccessFactory(user=account, patient=patient)

    known, known_text = _run_until_the_code(host_client(committing=True))

    assert [s[:2] for s in known] == [s[:2] for s in unknown]
    assert [s[:2] for s in known][:3] == [
        (302, "/portal/sign-in/contact/"),
        (302, "/portal/sign-in/check/"),
        (302, "/portal/sign-in/code/"),
    ]
    for known_step, unknown_step in zip(known, unknown, strict=True):
        assert known_step[2] == unknown_step[2]
    assert b"One time passcode" in known[3][2]
    assert b"That code is not right" in known[4][2]
    assert known_text == unknown_text
    assert "<code> is your Demo Family Clinic portal passcode" in known_text


def test_it_answers_known_and_unknown_ids_identically_by_email(clinic):
    def run():
        c = host_client(committing=True)
        steps = [_normalised(r) for r in begin(c, contact=CHART_EMAIL, contact_type="email")]
        steps.append(_normalised(c.get("/portal/sign-in/code/")))
        message = mail.outbox[-1]
        return steps, message.subject, CODE_RE.sub("<code>", message.body)

    unknown = run()
    from tests.factories import PatientFactory

    patient = PatientFactory(clinic=clinic, email=CHART_EMAIL)
    PatientIdentifierFactory(patient=patient, number=CHART_ID)
    known = run()
    assert known == unknown


# --- Portal off, chart not eligible -----------------------------------------------------


def test_it_says_the_portal_is_not_available_when_the_clinic_switched_it_off(clinic):
    clinic.portal_settings.portal_enabled = False
    clinic.portal_settings.save()
    c = host_client(committing=True)
    response = c.get("/portal/")
    assert response.status_code == 503
    content = response.content.decode()
    assert "The patient portal is not available" in content
    assert "Please call the clinic at (613) 555-0100" in content
    post = c.post("/portal/", {"id_type": "health-card", "id_number": NEW_ID})
    assert post.status_code == 503
    assert c.get("/portal/sign-in/password/").status_code == 503
    assert sms.outbox == []


def test_it_does_not_sign_in_a_chart_the_clinic_keeps_off_the_portal(chart):
    walk_in = PatientCategoryFactory(
        clinic=chart.clinic, name="Walk-in only", portal_eligible=False
    )
    chart.category = walk_in
    chart.save()
    c = host_client(committing=True)
    response = sign_in(c)
    assert response.status_code == 200
    content = response.content.decode()
    assert "The portal is not available for you" in content
    assert "Margaret" not in content
    assert not signed_in(c)
    assert not PatientAccess.objects.filter(patient=chart).exists()
    assert not User.objects.filter(clinic=chart.clinic, phone=CHART_MOBILE).exists()


def test_an_eligible_category_signs_in(chart):
    chart.category = PatientCategoryFactory(clinic=chart.clinic, name="Regular")
    chart.save()
    c = host_client(committing=True)
    assert sign_in(c)["Location"] == "/portal/"


# --- Details of the code page -----------------------------------------------------------


def test_it_says_a_wrong_code_is_wrong_and_keeps_the_flow(chart):
    c = host_client(committing=True)
    begin(c)
    code = last_code()
    response = enter_code(c, wrong(code))
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert enter_code(c, code)["Location"] == "/portal/"


def test_it_refuses_a_code_that_is_not_six_digits(chart):
    c = host_client(committing=True)
    begin(c)
    response = enter_code(c, "12ab56")
    assert response.status_code == 200
    assert "The code has 6 digits." in response.content.decode()
    assert PasscodeDevice.objects.get().failed_tries == 0


def test_the_code_text_holds_no_id_number(chart):
    sign_in(host_client(committing=True))
    body = sms.outbox[-1].body
    assert CHART_ID_NORMALISED not in body
    assert re.fullmatch(r"\d{6} is your Demo Family Clinic portal passcode\..*", body)


def test_the_register_form_expires_half_an_hour_after_the_code(clinic, frozen):
    from datetime import timedelta

    c = host_client(committing=True)
    assert sign_in(c, id_number=NEW_ID, contact=NEW_MOBILE)["Location"] == "/portal/register/"
    frozen.shift(timedelta(minutes=31))
    response = c.post("/portal/register/", registration_form(email="Amara@Example.com"))
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert not Patient.objects.exists()


def test_registration_uses_only_the_contact_the_code_proved(clinic):
    victim = "victim@example.com"
    c = host_client(committing=True)
    assert sign_in(c, id_number=NEW_ID, contact=NEW_MOBILE)["Location"] == "/portal/register/"
    c.post("/portal/sign-in/contact/", {"contact_type": "email", "contact": victim})
    c.post("/portal/register/", registration_form(email=victim))
    assert not User.objects.filter(clinic=clinic, email=victim).exists()
    assert mail.outbox == []  # the email address was never sent a code


def test_an_unproven_contact_cannot_be_used_to_capture_another_chart(clinic):
    from tests.factories import PatientFactory

    victim_email = "vera@example.com"
    vera = PatientFactory(clinic=clinic, first_name="Vera", last_name="Vasquez", email=victim_email)
    PatientIdentifierFactory(patient=vera, number="5556667777")
    attacker = host_client(committing=True)
    sign_in(attacker, id_number=NEW_ID, contact=NEW_MOBILE)
    attacker.post("/portal/sign-in/contact/", {"contact_type": "email", "contact": victim_email})
    attacker.post("/portal/register/", registration_form(email=victim_email))
    passphrase = "attacker chosen passphrase"
    attacker.post(
        "/portal/account/password/", {"new_password1": passphrase, "new_password2": passphrase}
    )
    # Later Vera signs in with her own ID and email, proving the email.
    sign_in(
        host_client(committing=True),
        id_number="5556667777",
        contact=victim_email,
        contact_type="email",
    )
    again = host_client(committing=True)
    again.post("/portal/sign-in/password/", {"login": victim_email, "password": passphrase})
    assert "Vasquez" not in again.get("/portal/").content.decode()
    holders = set(PatientAccess.objects.filter(patient=vera).values_list("user", flat=True))
    others = set(PatientAccess.objects.exclude(patient=vera).values_list("user", flat=True))
    assert not holders & others
