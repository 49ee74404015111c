"""Someone acting for a patient: a parent invited by staff, with chosen scopes."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from clinics.models import User
from invitations.models import Invitation
from patients.access import patient_required
from patients.models import PatientAccess, VerificationRequest
from patients.selectors import access_for_user, usable_grants
from patients.sessions import SESSION_PATIENT
from portal.notifications import sms
from tests.clients import host_client, portal_client, staff_client
from tests.factories import (
    TEST_PASSWORD,
    PatientAccessFactory,
    PatientFactory,
    PatientIdentifierFactory,
    UserFactory,
)
from tests.invitations.flows import (
    admin_url,
    confirm_dob,
    create_account,
    flash,
    is_signed_in,
    last_email_link,
    last_sms_link,
    open_link,
    sign_in_with_password,
)
from tests.patients.flows import CODE_RE

pytestmark = pytest.mark.django_db

CHILD_DOB = date(2018, 6, 1)
PARENT_EMAIL = "ana.parent@example.com"
CHILD_ID = "5550001112"


@pytest.fixture
def child(clinic, frozen):
    """Leo, 11 at NOW. The clock is frozen: a parent's access ends the day he turns 16
    (2034-06-01), and with it every test of acting for him."""
    patient = PatientFactory(
        clinic=clinic,
        first_name="Leo",
        last_name="Moreau",
        date_of_birth=CHILD_DOB,
        email="",
        mobile="+16135550188",
    )
    PatientIdentifierFactory(patient=patient, number=CHILD_ID)
    return patient


def invite_representative(staff, patient, **overrides):
    data = {
        "name": "Ana Moreau",
        "relationship": "parent",
        "channel": "email",
        "contact": PARENT_EMAIL,
        "can_appointments": "on",
    }
    data.update(overrides)
    return staff.post(admin_url(patient, "portal/representative/"), data)


# --- Staff give access to a parent ----------------------------------------------------------


def test_it_invites_a_parent_who_then_acts_for_the_child(child, front_desk):
    staff = staff_client(front_desk, committing=True)
    form = staff.get(admin_url(child, "portal/representative/"))
    assert form.status_code == 200
    response = invite_representative(staff, child)
    assert response.status_code == 302
    assert response["Location"] == admin_url(child)
    assert any("Portal invitation sent to Ana Moreau" in m for m in flash(response))

    invitation = Invitation.objects.get(patient=child)
    assert invitation.relationship == "parent"
    assert invitation.destination == PARENT_EMAIL
    assert (invitation.can_appointments, invitation.can_messages) == (True, False)
    assert invitation.can_demographics is False
    # The invitation goes to the parent only; the child's own mobile is not texted.
    assert [m.to for m in mail.outbox] == [[PARENT_EMAIL]]
    assert sms.outbox == []
    assert "someone you care for" in mail.outbox[0].body

    c = host_client(committing=True)
    page = open_link(c, last_email_link())
    assert "the person you will act for" in page.content.decode()
    assert confirm_dob(c, CHILD_DOB).status_code == 302
    done = create_account(c, method="passcode")
    assert done.status_code == 302
    assert done["Location"] == "/portal/"
    home = c.get("/portal/").content.decode()
    assert "You are acting for Leo Moreau." in home
    assert "Hello, Ana Moreau" in home

    parent = User.objects.get(clinic=child.clinic, email=PARENT_EMAIL)
    assert not parent.has_usable_password()
    grant = PatientAccess.objects.get(user=parent)
    assert grant.patient == child
    assert grant.relationship == "parent"
    assert (grant.can_appointments, grant.can_messages, grant.can_demographics) == (
        True,
        False,
        False,
    )


def test_it_refuses_the_parents_own_date_of_birth(child, front_desk):
    invite_representative(staff_client(front_desk, committing=True), child)
    c = host_client(committing=True)
    open_link(c, last_email_link())
    response = confirm_dob(c, date(1985, 1, 1))
    assert response.status_code == 200
    assert "does not match" in response.content.decode()


def test_it_adds_the_childs_access_to_a_parent_who_is_already_a_patient(clinic, child, front_desk):
    own_chart = PatientFactory(
        clinic=clinic, first_name="Ana", last_name="Moreau", email=PARENT_EMAIL
    )
    parent = UserFactory(
        clinic=clinic, username="ana", first_name="Ana", last_name="Moreau", email=PARENT_EMAIL
    )
    PatientAccessFactory(user=parent, patient=own_chart, relationship="self")
    invite_representative(staff_client(front_desk, committing=True), child)

    c = host_client(committing=True)
    open_link(c, last_email_link())
    assert confirm_dob(c, CHILD_DOB).status_code == 302
    assert "Sign in to add this access" in c.get("/portal/invitation/").content.decode()
    signed_in = sign_in_with_password(c, PARENT_EMAIL, TEST_PASSWORD)
    assert signed_in["Location"] == "/portal/invitation/"
    page = c.get("/portal/invitation/")
    assert "This adds access for Leo to your account." in page.content.decode()
    accepted = c.post("/portal/invitation/", {"terms": "on"})
    assert accepted.status_code == 302
    assert accepted["Location"] == "/portal/"

    assert User.objects.filter(clinic=clinic, email__iexact=PARENT_EMAIL).count() == 1
    live = PatientAccess.objects.filter(user=parent, revoked_at__isnull=True)
    assert {(g.patient_id, g.relationship) for g in live} == {
        (own_chart.pk, "self"),
        (child.pk, "parent"),
    }

    home = c.get("/portal/").content.decode()
    assert "You are acting for Leo Moreau." in home
    assert "Switch to Ana Moreau" in home

    to_own = c.post("/portal/switch/", {"patient": own_chart.pk})
    assert to_own.status_code == 302
    home = c.get("/portal/").content.decode()
    assert "You are acting for" not in home
    assert "Switch to Leo Moreau" in home
    assert c.session[SESSION_PATIENT] == own_chart.pk

    c.post("/portal/switch/", {"patient": child.pk})
    assert c.session[SESSION_PATIENT] == child.pk
    assert "You are acting for Leo Moreau." in c.get("/portal/").content.decode()


def test_it_switches_only_to_people_the_account_has_a_grant_for(clinic, other_clinic, child):
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    PatientAccessFactory(user=parent, patient=child, relationship="parent")
    stranger = PatientFactory(clinic=clinic, first_name="Stan", last_name="Ranger")
    elsewhere = PatientFactory(clinic=other_clinic)
    PatientAccessFactory(
        user=UserFactory(clinic=other_clinic), patient=elsewhere, relationship="self"
    )
    c = portal_client(parent, child)
    for patient_id in (stranger.pk, elsewhere.pk, "", "not-a-number"):
        response = c.post("/portal/switch/", {"patient": patient_id})
        assert response.status_code == 404
        assert "Ranger" not in response.content.decode()
        assert c.session[SESSION_PATIENT] == child.pk
    assert "You are acting for Leo Moreau." in c.get("/portal/").content.decode()


def test_it_does_not_let_a_forged_session_reach_another_chart(clinic, child):
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    PatientAccessFactory(user=parent, patient=child, relationship="parent")
    stranger = PatientFactory(clinic=clinic, first_name="Stan", last_name="Ranger")
    c = portal_client(parent, stranger)  # the session names a chart without a grant
    home = c.get("/portal/").content.decode()
    assert "Ranger" not in home
    assert "You are acting for Leo Moreau." in home


# --- Scopes -----------------------------------------------------------------------------------


def _portal_request(user, patient):
    request = RequestFactory().get("/portal/messages/", HTTP_HOST="demo.localhost")
    request.clinic = patient.clinic
    request.user = user if user is not None else AnonymousUser()
    request.session = SessionStore()
    request.session[SESSION_PATIENT] = patient.pk
    return request


@patient_required(scope="messages")
def _messages_view(request):
    return HttpResponse(f"messages of {request.patient.pk}")


@patient_required(scope="appointments")
def _appointments_view(request):
    return HttpResponse(f"appointments of {request.patient.pk}")


def test_it_limits_an_appointments_only_grant(clinic, child):
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    grant = PatientAccessFactory(
        user=parent,
        patient=child,
        relationship="parent",
        can_appointments=True,
        can_messages=False,
        can_demographics=False,
    )
    assert grant.allows("appointments")
    assert not grant.allows("messages")
    assert not grant.allows("demographics")
    with pytest.raises(ValueError):
        grant.allows("billing")
    assert access_for_user(clinic=clinic, user=parent, patient_id=child.pk) == grant

    refused = _messages_view(_portal_request(parent, child))
    assert refused.status_code == 403
    assert "Not part of your access" in refused.content.decode()
    assert f"messages of {child.pk}" not in refused.content.decode()

    allowed = _appointments_view(_portal_request(parent, child))
    assert allowed.status_code == 200
    assert allowed.content.decode() == f"appointments of {child.pk}"


def test_it_gives_the_patient_every_scope_of_their_own_chart(clinic, child):
    own = UserFactory(clinic=clinic)
    grant = PatientAccessFactory(user=own, patient=child, relationship="self", can_messages=False)
    assert grant.allows("messages")
    assert _messages_view(_portal_request(own, child)).status_code == 200


# --- Coming of age and expiry -----------------------------------------------------------------


@pytest.fixture
def teen(clinic):
    """Turns 16 on 2030-03-10."""
    return PatientFactory(
        clinic=clinic, first_name="Tia", last_name="Moreau", date_of_birth=date(2014, 3, 10)
    )


DAY_BEFORE_16 = datetime(2030, 3, 9, 17, 0, tzinfo=UTC)
SIXTEENTH_BIRTHDAY = datetime(2030, 3, 10, 17, 0, tzinfo=UTC)


def _home_status(user, patient):
    return portal_client(user, patient).get("/portal/").status_code


@pytest.mark.parametrize("relationship", ["parent", "guardian"])
def test_it_ends_a_parents_access_the_day_the_child_turns_16(clinic, teen, relationship):
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    PatientAccessFactory(user=parent, patient=teen, relationship=relationship)
    with time_machine.travel(DAY_BEFORE_16, tick=False):
        assert [g.patient for g in usable_grants(clinic=clinic, user=parent)] == [teen]
        assert _home_status(parent, teen) == 200
    with time_machine.travel(SIXTEENTH_BIRTHDAY, tick=False):
        assert usable_grants(clinic=clinic, user=parent) == []
        assert access_for_user(clinic=clinic, user=parent, patient_id=teen.pk) is None
        assert _home_status(parent, teen) == 403


def test_it_keeps_a_parents_access_after_16_when_confirmed(clinic, teen):
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    grant = PatientAccessFactory(user=parent, patient=teen, relationship="parent")
    grant.adult_access_confirmed_at = datetime(2030, 3, 1, tzinfo=UTC)
    grant.save()
    with time_machine.travel(SIXTEENTH_BIRTHDAY + timedelta(days=400), tick=False):
        assert access_for_user(clinic=clinic, user=parent, patient_id=teen.pk) == grant
        assert _home_status(parent, teen) == 200


def test_it_follows_the_clinics_age_threshold(clinic, teen):
    clinic.portal_settings.representative_age_threshold = 18
    clinic.portal_settings.save()
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    PatientAccessFactory(user=parent, patient=teen, relationship="parent")
    with time_machine.travel(SIXTEENTH_BIRTHDAY, tick=False):
        assert _home_status(parent, teen) == 200
    with time_machine.travel(datetime(2032, 3, 10, 17, 0, tzinfo=UTC), tick=False):
        assert _home_status(parent, teen) == 403


def test_it_does_not_end_a_carers_access_by_age(clinic, teen):
    carer = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    grant = PatientAccessFactory(user=carer, patient=teen, relationship="carer")
    with time_machine.travel(SIXTEENTH_BIRTHDAY, tick=False):
        assert access_for_user(clinic=clinic, user=carer, patient_id=teen.pk) == grant


def test_it_gives_no_access_with_an_expired_grant(clinic, child):
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    PatientAccessFactory(
        user=parent,
        patient=child,
        relationship="parent",
        expires_at=timezone.now() - timedelta(hours=1),
    )
    assert usable_grants(clinic=clinic, user=parent) == []
    assert access_for_user(clinic=clinic, user=parent, patient_id=child.pk) is None
    response = portal_client(parent, child).get("/portal/")
    assert response.status_code == 403
    assert "Moreau" not in response.content.decode()


def test_it_gives_access_until_the_grant_expires(clinic, child):
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    expires = datetime(2030, 1, 20, 12, 0, tzinfo=UTC)
    PatientAccessFactory(user=parent, patient=child, relationship="parent", expires_at=expires)
    with time_machine.travel(expires - timedelta(minutes=1), tick=False):
        assert _home_status(parent, child) == 200
    with time_machine.travel(expires, tick=False):
        assert _home_status(parent, child) == 403


# --- Signing in as a representative -----------------------------------------------------------


@pytest.mark.parametrize("child_has_an_account", [False, True])
def test_it_signs_a_representative_in_with_the_childs_id_and_their_own_email(
    clinic, child, child_has_an_account
):
    parent = UserFactory(clinic=clinic, username="ana", first_name="Ana", email=PARENT_EMAIL)
    PatientAccessFactory(user=parent, patient=child, relationship="parent", can_messages=False)
    if child_has_an_account:
        own = UserFactory(clinic=clinic, username="leo", email="", phone=str(child.mobile))
        PatientAccessFactory(user=own, patient=child, relationship="self")
    c = host_client(committing=True)
    c.post("/portal/", {"id_type": "health-card", "id_number": CHILD_ID})
    c.post("/portal/sign-in/contact/", {"contact_type": "email", "contact": PARENT_EMAIL})
    check = c.post("/portal/sign-in/check/")
    assert check["Location"] == "/portal/sign-in/code/"
    assert mail.outbox[-1].to == [PARENT_EMAIL]
    code = CODE_RE.search(mail.outbox[-1].body).group(1)
    response = c.post("/portal/sign-in/code/", {"code": code})
    assert response.status_code == 302
    assert response["Location"] == "/portal/"

    home = c.get("/portal/")
    assert is_signed_in(home)
    assert home.wsgi_request.user.pk == parent.pk
    assert "You are acting for Leo Moreau." in home.content.decode()
    assert not VerificationRequest.objects.exists()
    # No new account, and no grant of the child's own chart to the parent.
    assert User.objects.filter(clinic=clinic, is_staff=False).count() == (
        2 if child_has_an_account else 1
    )
    assert list(
        PatientAccess.objects.filter(user=parent).values_list("relationship", flat=True)
    ) == ["parent"]


def test_it_reckons_the_birthday_in_the_clinics_time_zone(clinic, teen):
    parent = UserFactory(clinic=clinic, email=PARENT_EMAIL)
    PatientAccessFactory(user=parent, patient=teen, relationship="parent")
    # 22:00 on 9 March in Toronto, already 10 March in UTC.
    with time_machine.travel(datetime(2030, 3, 10, 3, 0, tzinfo=UTC), tick=False):
        assert _home_status(parent, teen) == 200
    # 00:30 on 10 March in Toronto.
    with time_machine.travel(datetime(2030, 3, 10, 5, 30, tzinfo=UTC), tick=False):
        assert _home_status(parent, teen) == 403


# --- Newer invitations, resend, text messages -------------------------------------------------


def test_a_represented_patients_own_link_is_refused_and_the_parents_stays_alive(child, front_desk):
    """The chart's contacts may be the parent's: no link for the child's own account is
    sent (the child signs in with their ID and staff confirm them); the parent's link
    keeps working."""
    staff = staff_client(front_desk, committing=True)
    invite_representative(staff, child)
    parents_link = last_email_link()
    sent = len(mail.outbox)
    child.email = "leo@example.com"
    child.save()
    response = staff.post(admin_url(child, "portal/send/"), {"channel": "email"}, follow=True)
    assert "Someone else acts, acted or was invited to act for this patient" in (
        response.content.decode()
    )
    assert len(mail.outbox) == sent
    assert open_link(host_client(committing=True), parents_link).status_code == 200


def test_it_kills_the_parents_older_link_with_a_newer_one(child, front_desk):
    staff = staff_client(front_desk, committing=True)
    invite_representative(staff, child)
    older = last_email_link()
    invite_representative(staff, child, contact=PARENT_EMAIL.upper())
    newer = last_email_link()
    assert open_link(host_client(committing=True), older).status_code == 410
    assert open_link(host_client(committing=True), newer).status_code == 200


def test_it_keeps_the_parents_scopes_on_resend(child, front_desk):
    staff = staff_client(front_desk, committing=True)
    invite_representative(staff, child, can_messages="on")
    older = last_email_link()
    response = staff.post(admin_url(child, "portal/resend/"))
    assert response.status_code == 302
    assert mail.outbox[-1].to == [PARENT_EMAIL]
    newest, first = Invitation.objects.filter(patient=child)
    assert newest.pk != first.pk
    assert (newest.relationship, newest.representative_name) == ("parent", "Ana Moreau")
    assert (newest.can_appointments, newest.can_messages, newest.can_demographics) == (
        True,
        True,
        False,
    )
    assert open_link(host_client(committing=True), older).status_code == 410


def test_it_invites_a_parent_by_text_message(child, front_desk):
    response = invite_representative(
        staff_client(front_desk, committing=True), child, channel="sms", contact="613 555 0199"
    )
    assert response.status_code == 302
    assert mail.outbox == []
    assert [s.to for s in sms.outbox] == ["+16135550199"]
    link = last_sms_link()
    c = host_client(committing=True)
    open_link(c, link)
    confirm_dob(c, CHILD_DOB)
    assert create_account(c)["Location"] == "/portal/"
    parent = c.get("/portal/").wsgi_request.user
    assert str(parent.phone) == "+16135550199"
    assert parent.first_name == "Ana Moreau"


def test_it_refuses_a_representative_form_without_a_usable_contact(child, front_desk):
    staff = staff_client(front_desk, committing=True)
    bad_email = invite_representative(staff, child, contact="not an email")
    assert bad_email.status_code == 200
    assert "Enter an email address like name@example.com" in bad_email.content.decode()
    look_alike = invite_representative(staff, child, contact="ana@gmaıl.com")  # dotless ı
    assert look_alike.status_code == 200
    assert "Enter an email address like name@example.com" in look_alike.content.decode()
    bad_mobile = invite_representative(staff, child, channel="sms", contact="12")
    assert bad_mobile.status_code == 200
    # The example is a number of the clinic's country (Canada), as it is written there.
    assert "Enter a mobile number with its area code, like (506) 234-5678." in (
        bad_mobile.content.decode()
    )
    assert not Invitation.objects.exists()
    assert mail.outbox == []
    assert sms.outbox == []


def test_staff_may_grant_a_carer_the_health_record_in_the_invitation(child, front_desk):
    staff = staff_client(front_desk, committing=True)
    form = staff.get(admin_url(child, "portal/representative/")).content.decode()
    assert 'name="can_health_record"' in form
    invite_representative(staff, child, relationship="carer", can_health_record="on")
    assert Invitation.objects.get(patient=child).can_health_record
    response = staff.post(admin_url(child, "portal/resend/"))
    assert response.status_code == 302
    assert Invitation.objects.filter(patient=child).first().can_health_record  # kept

    c = host_client(committing=True)
    open_link(c, last_email_link())
    confirm_dob(c, CHILD_DOB)
    create_account(c, method="passcode")
    grant = PatientAccess.objects.get(patient=child, relationship="carer")
    assert grant.can_health_record
    assert c.get("/portal/health-record/medications/").status_code == 200


def test_the_health_record_is_left_out_of_an_invitation_unless_ticked(child, front_desk):
    invite_representative(staff_client(front_desk, committing=True), child, relationship="carer")
    assert not Invitation.objects.get(patient=child).can_health_record
