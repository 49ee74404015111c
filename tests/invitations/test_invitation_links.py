"""The invitation link: how long it works, what kills it, where it works, what it leaks."""

import hashlib
import json
import logging
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail

from invitations import services
from invitations.models import Invitation
from invitations.views import SESSION_TOKEN
from patients.models import PatientAccess
from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from tests.clients import host_client, portal_client, staff_client
from tests.clock import NOW
from tests.factories import ClinicDomainFactory, PatientAccessFactory, PatientFactory
from tests.invitations.flows import (
    PATIENT_DOB,
    accept_as_new_account,
    admin_url,
    confirm_dob,
    create_account,
    email_link,
    is_signed_in,
    last_email_link,
    open_link,
    path_of,
    send,
    token_of,
)

pytestmark = pytest.mark.django_db

DEAD = "This invitation link no longer works"


def assert_dead(response, why):
    assert response.status_code == 410
    content = response.content.decode()
    assert DEAD in content
    assert "Ask the clinic" in content
    assert why in content
    # Nothing of the chart is shown on a dead link.
    assert "Silva" not in content
    assert "date_of_birth" not in content


# --- How long it works --------------------------------------------------------------------


def test_it_works_at_71_hours_59_minutes(patient, front_desk):
    with time_machine.travel(NOW, tick=False) as clock:
        send(staff_client(front_desk, committing=True), patient)
        link = last_email_link()
        clock.move_to(NOW + timedelta(hours=71, minutes=59))
        c = host_client(committing=True)
        page = open_link(c, link)
        assert page.status_code == 200
        assert "date of birth" in page.content.decode()
        accept_as_new_account(c, link, PATIENT_DOB)
        assert c.get("/portal/").status_code == 200


def test_it_is_dead_at_72_hours_1_minute(patient, front_desk):
    with time_machine.travel(NOW, tick=False) as clock:
        send(staff_client(front_desk, committing=True), patient)
        link = last_email_link()
        clock.move_to(NOW + timedelta(hours=72, minutes=1))
        assert_dead(open_link(host_client(committing=True), link), "The link has expired.")
    assert not PatientAccess.objects.filter(patient=patient).exists()


def test_it_cannot_be_finished_after_it_expires_midway(patient, front_desk):
    with time_machine.travel(NOW, tick=False) as clock:
        send(staff_client(front_desk, committing=True), patient)
        link = last_email_link()
        clock.move_to(NOW + timedelta(hours=71, minutes=59))
        c = host_client(committing=True)
        open_link(c, link)
        assert confirm_dob(c, PATIENT_DOB).status_code == 302
        clock.move_to(NOW + timedelta(hours=72, minutes=1))
        assert_dead(create_account(c), "The link has expired.")
    assert not PatientAccess.objects.filter(patient=patient).exists()
    assert not is_signed_in(c.get("/portal/account/"))


def test_it_follows_the_clinics_validity_setting(clinic, patient, front_desk):
    clinic.portal_settings.invitation_validity_hours = 24
    clinic.portal_settings.save()
    with time_machine.travel(NOW, tick=False) as clock:
        send(staff_client(front_desk, committing=True), patient)
        link = last_email_link()
        assert "24 hours" in mail.outbox[-1].body
        clock.move_to(NOW + timedelta(hours=24, minutes=1))
        assert_dead(open_link(host_client(committing=True), link), "The link has expired.")


# --- What kills it ------------------------------------------------------------------------


def test_it_is_dead_after_use(patient, front_desk):
    send(staff_client(front_desk, committing=True), patient)
    link = last_email_link()
    c = host_client(committing=True)
    accept_as_new_account(c, link, PATIENT_DOB)
    assert_dead(open_link(host_client(committing=True), link), "The link was already used.")
    # Not even the person who used it can open it again.
    assert_dead(open_link(c, link), "The link was already used.")
    assert PatientAccess.objects.filter(patient=patient).count() == 1


def test_it_is_dead_after_a_newer_invitation_and_the_newer_one_works(patient, front_desk):
    staff = staff_client(front_desk, committing=True)
    send(staff, patient)
    older = last_email_link()
    send(staff, patient)
    newer = last_email_link()
    assert token_of(older) != token_of(newer)
    assert_dead(open_link(host_client(committing=True), older), "newer invitation")
    accept_as_new_account(host_client(committing=True), newer, PATIENT_DOB)
    states = [i.state() for i in Invitation.objects.filter(patient=patient)]
    assert states == [Invitation.State.USED, Invitation.State.SUPERSEDED]


def test_it_is_dead_after_resend(patient, front_desk):
    staff = staff_client(front_desk, committing=True)
    send(staff, patient)
    older = last_email_link()
    response = staff.post(admin_url(patient, "portal/resend/"))
    assert response.status_code == 302
    newer = last_email_link()
    assert newer != older
    assert_dead(open_link(host_client(committing=True), older), "newer invitation")
    assert open_link(host_client(committing=True), newer).status_code == 200


def test_it_is_dead_after_revoke(patient, front_desk, clinic_admin):
    send(staff_client(front_desk, committing=True), patient)
    link = last_email_link()
    revoke = staff_client(clinic_admin, committing=True).post(admin_url(patient, "portal/revoke/"))
    assert revoke.status_code == 302
    assert_dead(open_link(host_client(committing=True), link), "The clinic cancelled this link.")


def test_it_cannot_be_finished_after_revoke_midway(patient, front_desk, clinic_admin):
    send(staff_client(front_desk, committing=True), patient)
    link = last_email_link()
    c = host_client(committing=True)
    open_link(c, link)
    assert confirm_dob(c, PATIENT_DOB).status_code == 302
    staff_client(clinic_admin, committing=True).post(admin_url(patient, "portal/revoke/"))
    assert_dead(create_account(c), "The clinic cancelled this link.")
    assert not PatientAccess.objects.filter(patient=patient).exists()


def test_it_dies_after_five_wrong_dates_of_birth(patient, front_desk):
    send(staff_client(front_desk, committing=True), patient)
    link = last_email_link()
    c = host_client(committing=True)
    open_link(c, link)
    for wrong_year in range(1962, 1966):
        response = confirm_dob(c, date(wrong_year, 4, 9))
        assert response.status_code == 200
        assert "does not match" in response.content.decode()
    # Four wrong tries: the link still asks.
    assert c.get("/portal/invitation/").status_code == 200
    fifth = confirm_dob(c, date(1970, 1, 1))
    assert fifth.status_code == 200
    # The right date of birth is too late now, in this browser or another.
    assert_dead(confirm_dob(c, PATIENT_DOB), "The clinic cancelled this link.")
    assert_dead(open_link(host_client(committing=True), link), "The clinic cancelled this link.")
    invitation = Invitation.objects.get(patient=patient)
    assert invitation.dob_failures == 5
    assert invitation.state() == Invitation.State.REVOKED


def test_it_asks_for_the_date_of_birth_before_anything_else(patient, front_desk):
    send(staff_client(front_desk, committing=True), patient)
    c = host_client(committing=True)
    open_link(c, last_email_link())
    # Skipping the date of birth step gets the same question again.
    skipped = create_account(c)
    assert skipped.status_code == 200
    assert "date_of_birth" in skipped.content.decode()
    assert not PatientAccess.objects.filter(patient=patient).exists()


# --- Where it works -----------------------------------------------------------------------


def test_it_is_refused_on_another_clinics_host(patient, front_desk, other_clinic):
    send(staff_client(front_desk, committing=True), patient)
    link = last_email_link()
    northside = host_client("northside")
    landing = northside.get(path_of(link))
    page = northside.get("/portal/invitation/")
    assert_dead(page, "not valid here")
    for response in (landing, page):
        content = response.content.decode()
        assert "Demo Family Clinic" not in content
        assert "Maria" not in content
    assert "Northside Health Centre" in page.content.decode()
    # The link is not spent by the refusal: it still works on its own clinic.
    assert Invitation.objects.get(patient=patient).state() == Invitation.State.VALID
    assert open_link(host_client(committing=True), link).status_code == 200


def test_it_builds_the_link_on_the_clinics_primary_domain(settings, clinic, patient, front_desk):
    ClinicDomainFactory(clinic=clinic, domain="portal.demo-clinic.example", is_primary=True)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "portal.demo-clinic.example"]
    staff = host_client("demo.localhost", front_desk, committing=True)
    send(staff, patient)
    link = last_email_link()
    assert link.startswith("http://portal.demo-clinic.example")
    assert urlsplit(link).hostname == "portal.demo-clinic.example"
    # The link works on that domain.
    page = open_link(host_client("portal.demo-clinic.example", committing=True), link)
    assert page.status_code == 200
    assert "date of birth" in page.content.decode()


def test_it_ignores_a_forged_forwarded_host(settings, clinic, patient, front_desk):
    ClinicDomainFactory(clinic=clinic, domain="portal.demo-clinic.example", is_primary=True)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "portal.demo-clinic.example"]
    staff = host_client("demo.localhost", front_desk, committing=True)
    response = send(staff, patient, HTTP_X_FORWARDED_HOST="evil.example")
    assert response.status_code == 302
    message = mail.outbox[-1]
    link = email_link(message)
    assert link.startswith("http://portal.demo-clinic.example")
    assert "evil.example" not in message.body
    assert "evil.example" not in message.alternatives[0][0]


def test_it_sends_nothing_for_a_forged_host_header(clinic, patient, front_desk):
    staff = host_client("evil.example", front_desk, committing=True)
    response = send(staff, patient)
    assert response.status_code == 400
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_it_builds_the_link_on_the_subdomain_without_a_custom_domain(patient, front_desk):
    send(staff_client(front_desk, committing=True), patient)
    link = last_email_link()
    assert link.startswith("http://demo.localhost:8000/portal/invitation/")


# --- What it leaks ------------------------------------------------------------------------


def test_it_keeps_the_token_out_of_referrers_logs_and_the_database(caplog, patient, front_desk):
    caplog.set_level(logging.DEBUG)
    for name in ("django.request", "django.server", "celery", "portal", "invitations"):
        caplog.set_level(logging.DEBUG, logger=name)
    send(staff_client(front_desk, committing=True), patient)
    link = last_email_link()
    token = token_of(link)
    assert len(token) >= 40

    c = host_client(committing=True)
    landing = c.get(path_of(link))
    assert landing.status_code == 302
    assert landing["Referrer-Policy"] == "no-referrer"
    assert token not in landing["Location"]
    assert "no-store" in landing["Cache-Control"]
    # The pages after the landing carry no token (their URL is /portal/invitation/).
    page = c.get("/portal/invitation/")
    assert token not in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    confirmed = confirm_dob(c, PATIENT_DOB)
    assert token not in confirmed["Location"]
    assert create_account(c).status_code == 302
    assert c.get("/portal/").status_code == 200
    assert SESSION_TOKEN not in c.session

    assert caplog.records, "nothing was captured: the log capture is not working"
    for record in caplog.records:
        assert token not in record.getMessage(), record.name
        assert token not in repr(record.args), record.name

    invitation = Invitation.objects.get(patient=patient)
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert invitation.token_hash != token
    stored = json.dumps(list(Invitation.objects.values()), default=str)
    assert token not in stored

    events = AuditEvent.objects.filter(clinic=patient.clinic)
    assert events.exists()
    for event in events:
        assert token not in json.dumps(event.details)
        assert token not in event.object_id

    notifications = Notification.objects.filter(clinic=patient.clinic)
    assert notifications.exists()
    for notification in notifications:
        assert token not in json.dumps(notification.context)
    assert token not in json.dumps(list(notifications.values()), default=str)


def test_it_does_not_answer_a_date_of_birth_once_the_link_died_meanwhile(patient, front_desk):
    send(staff_client(front_desk, committing=True), patient)
    open_link(host_client(committing=True), last_email_link())
    # What the view read before the other tabs' wrong guesses were recorded.
    seen_by_the_view = Invitation.objects.get(patient=patient)
    assert seen_by_the_view.state() == Invitation.State.VALID
    Invitation.objects.filter(pk=seen_by_the_view.pk).update(dob_failures=5)
    answer = services.invitation_check_dob(invitation=seen_by_the_view, date_of_birth=PATIENT_DOB)
    assert answer is False


# --- Whose account it joins ---------------------------------------------------------------


def test_it_asks_a_signed_in_owner_only_to_accept(registered, front_desk):
    patient, user = registered.patient, registered.user
    send(staff_client(front_desk, committing=True), patient)
    c = portal_client(user, patient, committing=True)
    open_link(c, last_email_link())
    confirm_dob(c, PATIENT_DOB)
    page = c.get("/portal/invitation/")
    assert "This adds your chart to your account." in page.content.decode()
    assert c.post("/portal/invitation/", {"terms": "on"})["Location"] == "/portal/"
    live = PatientAccess.objects.filter(patient=patient, revoked_at__isnull=True)
    assert [g.user_id for g in live] == [user.pk]


def _opened_where_bob_is_signed_in(patient, front_desk):
    """Staff send the patient's invitation; it is opened, and the date of birth confirmed,
    in a browser where Bob (another patient of the clinic) is signed in. Returns Bob, the
    browser and the page it then shows."""
    bob_chart = PatientFactory(clinic=patient.clinic, email="bob@example.com")
    bob = PatientAccessFactory(patient=bob_chart, user__username="bob").user
    send(staff_client(front_desk, committing=True), patient)
    c = portal_client(bob, bob_chart, committing=True)
    open_link(c, last_email_link())
    confirm_dob(c, PATIENT_DOB)
    return bob, c, c.get("/portal/invitation/")


def test_it_refuses_a_signed_in_account_that_is_not_the_invitations(registered, front_desk):
    """Someone else's account is signed in on this browser; the invited contact has one too."""
    patient = registered.patient
    bob, c, page = _opened_where_bob_is_signed_in(patient, front_desk)
    assert "This invitation is for another account" in page.content.decode()
    c.post("/portal/invitation/", {"terms": "on"})
    assert not PatientAccess.objects.filter(user=bob, patient=patient).exists()


def test_it_does_not_join_a_signed_in_account_with_another_contact(patient, front_desk):
    """Bob is signed in on a shared computer; Maria (no account yet) opens her link there."""
    bob, c, page = _opened_where_bob_is_signed_in(patient, front_desk)
    c.post("/portal/invitation/", {"terms": "on"})
    assert not PatientAccess.objects.filter(user=bob, patient=patient).exists()
    assert "This invitation is for another account" in page.content.decode()
