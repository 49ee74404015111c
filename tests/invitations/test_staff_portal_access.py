"""Portal access from the clinic admin: send, resend, revoke, Quick Add, the bulk action."""

import re
from datetime import date

import pytest
from django.core import mail

from clinics.models import User
from invitations.models import Invitation
from patients.models import Patient, PatientAccess
from portal.audit.models import AuditEvent
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
    PATIENT_DOB,
    PATIENT_EMAIL,
    PATIENT_MOBILE,
    accept_as_new_account,
    admin_url,
    confirm_dob,
    create_account,
    email_link,
    flash,
    is_signed_in,
    last_email_link,
    last_sms_link,
    links_in,
    open_link,
    send,
    sign_in_with_password,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/patients/patient/"
QUICK_ADD = "/admin/patients/patient/quick-add/"


def revoke_url(patient):
    return admin_url(patient, "portal/revoke/")


def grants(patient):
    return PatientAccess.objects.filter(patient=patient)


# --- Revoke -------------------------------------------------------------------------------


def test_it_ends_a_live_session_when_a_clinic_admin_revokes(registered, carla):
    patient, user = registered.patient, registered.user
    browser = portal_client(user, patient)
    before = browser.get("/portal/account/")
    assert before.status_code == 200
    assert is_signed_in(before)

    admin = staff_client(carla, committing=True)
    confirm = admin.get(revoke_url(patient))
    assert confirm.status_code == 200
    assert "Revoke portal access for Silva, Maria?" in confirm.content.decode()
    assert not Patient.objects.get(pk=patient.pk).portal_revoked_at  # GET changes nothing
    done = admin.post(revoke_url(patient))
    assert done.status_code == 302
    assert done["Location"] == admin_url(patient)
    assert any("Patient portal access revoked for Silva, Maria" in m for m in flash(done))

    after = browser.get("/portal/account/")
    assert after.status_code == 302
    assert after["Location"] == "/portal/?next=%2Fportal%2Faccount%2F"
    assert not is_signed_in(after)
    registered.refresh_from_db()
    assert registered.revoked_at is not None


def test_it_tells_the_patient_by_email_without_health_information(registered, carla):
    patient = registered.patient
    staff_client(carla, committing=True).post(revoke_url(patient))
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [PATIENT_EMAIL]
    assert "deactivated" in message.subject
    assert "deactivated" in message.body
    html = message.alternatives[0][0]
    for part in (message.subject, message.body, html):
        for private in ("Maria", "Silva", "1961", "04-09", "April"):
            assert private not in part
    assert links_in(message.body) == []
    assert sms.outbox == []


def test_it_shows_who_revoked_and_when_and_filters_revoked_charts(registered, carla, clinic):
    patient = registered.patient
    other = PatientFactory(clinic=clinic, first_name="Ola", last_name="Untouched")
    admin = staff_client(carla, committing=True)
    admin.post(revoke_url(patient))

    page = admin.get(admin_url(patient)).content.decode()
    assert re.search(r"Revoked at [^<]*\d[^<]* by Carla Admin", page), page
    assert "Revoke Patient Portal Access</a>" not in page

    revoked = admin.get(CHANGELIST, {"portal": "revoked"})
    assert list(revoked.context["cl"].result_list) == [patient]
    registered_list = admin.get(CHANGELIST, {"portal": "registered"})
    assert patient not in registered_list.context["cl"].result_list
    not_invited = admin.get(CHANGELIST, {"portal": "not_invited"})
    assert list(not_invited.context["cl"].result_list) == [other]


def test_it_regrants_access_that_keeps_the_same_password(registered, carla, front_desk):
    patient, user = registered.patient, registered.user
    staff_client(carla, committing=True).post(revoke_url(patient))
    # The password still signs in, but the account reaches no chart until re-granted.
    assert sign_in_then_account(user).status_code == 403

    staff = staff_client(
        carla, committing=True
    )  # only a clinic admin may grant revoked access again
    sent = send(staff, patient)
    assert sent.status_code == 302
    link = last_email_link()
    assert Patient.objects.get(pk=patient.pk).portal_revoked_at is None

    c = host_client(committing=True)
    open_link(c, link)
    assert confirm_dob(c, PATIENT_DOB).status_code == 302
    asked = c.get("/portal/invitation/")
    assert "Sign in to add this access" in asked.content.decode()
    signed_in = sign_in_with_password(c, PATIENT_EMAIL, TEST_PASSWORD)
    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/portal/invitation/"
    accepted = c.post("/portal/invitation/", {"terms": "on"})
    assert accepted.status_code == 302
    assert accepted["Location"] == "/portal/"
    home = c.get("/portal/")
    assert home.status_code == 200
    assert "Hello, Maria" in home.content.decode()

    assert User.objects.filter(clinic=patient.clinic, email__iexact=PATIENT_EMAIL).count() == 1
    live = grants(patient).filter(revoked_at__isnull=True)
    assert [g.user_id for g in live] == [user.pk]
    assert c.get("/admin/").status_code == 302  # still a patient, not staff


def sign_in_then_account(user):
    """Sign in with the account's password; returns the account page's response."""
    c = host_client(committing=True)
    sign_in_with_password(c, user.email)
    return c.get("/portal/account/")


def test_it_forbids_front_desk_to_revoke(registered, front_desk):
    patient, user = registered.patient, registered.user
    browser = portal_client(user, patient)
    desk = staff_client(front_desk, committing=True)
    assert desk.get(revoke_url(patient)).status_code == 403
    assert desk.post(revoke_url(patient)).status_code == 403
    assert "Revoke Patient Portal Access" not in desk.get(admin_url(patient)).content.decode()

    assert browser.get("/portal/account/").status_code == 200
    assert Patient.objects.get(pk=patient.pk).portal_revoked_at is None
    assert grants(patient).filter(revoked_at__isnull=True).count() == 1
    assert not AuditEvent.objects.filter(action="portal.revoked").exists()
    assert mail.outbox == []


def test_it_ends_a_carers_access_when_the_chart_is_revoked(registered, carla, clinic):
    carer = UserFactory(clinic=clinic, username="carer", email="carer@example.com")
    PatientAccessFactory(user=carer, patient=registered.patient, relationship="carer")
    browser = portal_client(carer, registered.patient)
    assert browser.get("/portal/").status_code == 200
    staff_client(carla, committing=True).post(revoke_url(registered.patient))
    assert browser.get("/portal/").status_code == 403
    told = sorted(m.to[0] for m in mail.outbox)
    assert told == ["carer@example.com", PATIENT_EMAIL]


# --- Send and resend ----------------------------------------------------------------------


def test_it_explains_that_there_is_no_mobile_number(patient, front_desk):
    response = send(staff_client(front_desk, committing=True), patient, channel="sms")
    assert response.status_code == 302
    assert response["Location"] == admin_url(patient)
    errors = flash(response)
    assert len(errors) == 1
    assert "mobile number" in errors[0]
    assert "Silva, Maria" in errors[0]
    assert not Invitation.objects.exists()
    assert sms.outbox == []
    assert mail.outbox == []


def test_it_words_the_missing_contact_message_correctly(patient, front_desk):
    response = send(staff_client(front_desk, committing=True), patient, channel="sms")
    (error,) = flash(response)
    assert "Silva, Maria has no mobile number on file." in error


def test_it_sends_an_email_invitation_and_an_sms_notice(clinic, front_desk):
    patient = PatientFactory(
        clinic=clinic,
        first_name="Maria",
        last_name="Silva",
        date_of_birth=PATIENT_DOB,
        email=PATIENT_EMAIL,
        mobile=PATIENT_MOBILE,
    )
    response = send(staff_client(front_desk, committing=True), patient, channel="email")
    assert response.status_code == 302
    assert any("Portal registration sent to Silva, Maria" in m for m in flash(response))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [PATIENT_EMAIL]
    link = email_link(mail.outbox[0])
    assert len(sms.outbox) == 1
    notice = sms.outbox[0]
    assert notice.to == PATIENT_MOBILE
    assert "email" in notice.body
    assert "http" not in notice.body
    assert "/portal/invitation/" not in notice.body
    assert open_link(host_client(committing=True), link).status_code == 200


def test_it_sends_no_sms_notice_when_the_clinic_does_not_text(clinic, front_desk):
    clinic.portal_settings.sms_enabled = False
    clinic.portal_settings.save()
    patient = PatientFactory(clinic=clinic, email=PATIENT_EMAIL, mobile=PATIENT_MOBILE)
    send(staff_client(front_desk, committing=True), patient, channel="email")
    assert len(mail.outbox) == 1
    assert sms.outbox == []


def test_it_puts_the_link_in_an_sms_invitation(clinic, front_desk):
    patient = PatientFactory(
        clinic=clinic,
        first_name="Maria",
        last_name="Silva",
        date_of_birth=PATIENT_DOB,
        email="",
        mobile=PATIENT_MOBILE,
    )
    send(staff_client(front_desk, committing=True), patient, channel="sms")
    assert mail.outbox == []
    assert len(sms.outbox) == 1
    assert sms.outbox[0].to == PATIENT_MOBILE
    link = last_sms_link()
    assert link.startswith("http://demo.localhost:8000/portal/invitation/")
    c = host_client(committing=True)
    accept_as_new_account(c, link, PATIENT_DOB)
    user = c.get("/portal/").wsgi_request.user
    assert str(user.phone) == PATIENT_MOBILE
    assert user.email == ""


def test_it_resends_only_by_post(patient, front_desk):
    staff = staff_client(front_desk, committing=True)
    send(staff, patient)
    assert staff.get(admin_url(patient, "portal/resend/")).status_code == 302
    assert Invitation.objects.filter(patient=patient).count() == 1
    staff.post(admin_url(patient, "portal/resend/"))
    assert Invitation.objects.filter(patient=patient).count() == 2
    assert len(mail.outbox) == 2


def test_it_does_not_resend_without_an_earlier_invitation(patient, front_desk):
    response = staff_client(front_desk, committing=True).post(admin_url(patient, "portal/resend/"))
    assert response.status_code == 302
    assert any("no invitation to resend" in m for m in flash(response))
    assert mail.outbox == []


# --- Another clinic's staff -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "action", "data"),
    [
        ("post", "portal/send/", {"channel": "email"}),
        ("post", "portal/resend/", {}),
        ("get", "portal/revoke/", {}),
        ("post", "portal/revoke/", {}),
        ("get", "portal/representative/", {}),
        (
            "post",
            "portal/representative/",
            {
                "name": "Eve",
                "relationship": "parent",
                "channel": "email",
                "contact": "eve@example.com",
                "can_appointments": "on",
            },
        ),
    ],
)
def test_it_hides_another_clinics_chart_from_its_staff(
    registered, front_desk, outsider_staff, method, action, data
):
    patient = registered.patient
    send(staff_client(front_desk, committing=True), patient)  # an invitation to resend
    mail.outbox.clear()
    outsider = staff_client(outsider_staff, committing=True)  # signed in on northside
    response = getattr(outsider, method)(admin_url(patient, action), data)
    assert response.status_code == 404
    assert "Silva" not in response.content.decode()
    assert Invitation.objects.filter(patient=patient).count() == 1
    assert Patient.objects.get(pk=patient.pk).portal_revoked_at is None
    assert grants(patient).filter(revoked_at__isnull=True).count() == 1
    assert mail.outbox == []
    assert sms.outbox == []


def test_it_treats_another_clinics_staff_as_signed_out_on_this_host(patient, outsider_staff):
    outsider = staff_client(outsider_staff, "demo", committing=True)
    response = send(outsider, patient)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not Invitation.objects.exists()


# --- The bulk action ----------------------------------------------------------------------


def report_rows(response):
    """(patient, result, why) for each row of the #send-report table."""
    content = response.content.decode()
    table = re.search(r'<table id="send-report">.*?</table>', content, re.S)
    assert table, content
    rows = re.findall(
        r"<tr><td><a [^>]*>([^<]*)</a></td><td>([^<]*)</td><td>([^<]*)</td></tr>", table.group(0)
    )
    return {name: (result, why) for name, result, why in rows}


def test_it_reports_each_patient_of_the_bulk_send(clinic, registered, front_desk):
    nothing = PatientFactory(clinic=clinic, first_name="Nadia", last_name="Nocontact", email="")
    by_email = PatientFactory(
        clinic=clinic, first_name="Erin", last_name="Email", email="erin@example.com"
    )
    by_text = PatientFactory(
        clinic=clinic, first_name="Tomas", last_name="Text", email="", mobile="+16135550144"
    )
    chosen = [registered.patient, nothing, by_email, by_text]
    response = staff_client(front_desk, committing=True).post(
        CHANGELIST,
        {"action": "send_portal_registration", "_selected_action": [p.pk for p in chosen]},
    )
    assert response.status_code == 200
    assert report_rows(response) == {
        "Silva, Maria": ("skipped", "already registered"),
        "Nocontact, Nadia": ("skipped", "no email or mobile on file"),
        "Email, Erin": ("sent", "by email"),
        "Text, Tomas": ("sent", "by text message"),
    }
    assert "2 registrations sent." in response.content.decode()

    assert [m.to for m in mail.outbox] == [["erin@example.com"]]
    assert len(links_in(mail.outbox[0].body)) == 1
    assert [s.to for s in sms.outbox] == ["+16135550144"]
    assert len(links_in(sms.outbox[0].body)) == 1
    invited = set(Invitation.objects.values_list("patient_id", flat=True))
    assert invited == {by_email.pk, by_text.pk}


# --- Quick Add ----------------------------------------------------------------------------


def quick_add(staff, **overrides):
    data = {
        "first_name": "Lena",
        "last_name": "Quick",
        "date_of_birth": "1985-02-03",
        "activate_portal": "on",
        "channel": "email",
        "contact": "Lena@Example.com",
    }
    data.update(overrides)
    return staff.post(QUICK_ADD, {k: v for k, v in data.items() if v is not None})


def test_it_quick_adds_a_patient_and_sends_the_email(clinic, front_desk):
    response = quick_add(staff_client(front_desk, committing=True))
    patient = Patient.objects.get(last_name="Quick")
    assert response.status_code == 302
    assert response["Location"] == admin_url(patient)
    assert patient.clinic == clinic
    assert patient.email == "lena@example.com"
    assert any("Portal registration sent to Quick, Lena" in m for m in flash(response))
    assert [m.to for m in mail.outbox] == [["lena@example.com"]]
    link = last_email_link()
    c = host_client(committing=True)
    accept_as_new_account(c, link, date(1985, 2, 3))
    assert c.get("/portal/").status_code == 200


def test_it_quick_adds_without_sending_when_the_portal_is_not_activated(front_desk):
    response = quick_add(staff_client(front_desk, committing=True), activate_portal=None)
    assert response.status_code == 302
    patient = Patient.objects.get(last_name="Quick")
    assert patient.email == "lena@example.com"
    assert any("Quick, Lena added." in m for m in flash(response))
    assert mail.outbox == []
    assert sms.outbox == []
    assert not Invitation.objects.exists()


def test_it_refuses_to_activate_the_portal_without_a_contact(front_desk):
    response = quick_add(staff_client(front_desk, committing=True), contact="", channel=None)
    assert response.status_code == 200
    assert "contact" in response.context["form"].errors
    assert "Enter the email or mobile the link goes to." in response.content.decode()
    assert not Patient.objects.filter(last_name="Quick").exists()
    assert mail.outbox == []


def test_it_quick_adds_and_sends_by_text(front_desk):
    quick_add(staff_client(front_desk, committing=True), channel="sms", contact="613 555 0166")
    patient = Patient.objects.get(last_name="Quick")
    assert str(patient.mobile) == "+16135550166"
    assert patient.email == ""
    assert [s.to for s in sms.outbox] == ["+16135550166"]
    assert len(links_in(sms.outbox[0].body)) == 1


# --- Audit --------------------------------------------------------------------------------


def test_it_audits_sending_accepting_and_revoking(patient, front_desk, carla):
    send(staff_client(front_desk, committing=True), patient)
    invitation = Invitation.objects.get(patient=patient)
    c = host_client(committing=True)
    accept_as_new_account(c, last_email_link(), PATIENT_DOB)
    new_user = c.get("/portal/").wsgi_request.user
    staff_client(carla, committing=True).post(revoke_url(patient))

    sent = AuditEvent.objects.get(action="invitation.sent")
    assert sent.acting_for == patient
    assert sent.actor == front_desk
    assert sent.clinic == patient.clinic
    assert (sent.object_type, sent.object_id) == ("invitations.invitation", str(invitation.pk))
    assert sent.details == {"channel": "email", "relationship": "self"}

    accepted = AuditEvent.objects.get(action="invitation.accepted")
    assert accepted.acting_for == patient
    assert accepted.actor_id == new_user.pk

    revoked = AuditEvent.objects.get(action="portal.revoked")
    assert revoked.acting_for == patient
    assert revoked.actor == carla
    assert revoked.details == {"grants_ended": 1}


def test_it_keeps_a_revoked_patient_out_of_id_and_passcode_sign_in(registered, carla):
    patient = registered.patient
    PatientIdentifierFactory(patient=patient, number="7776665554")
    staff_client(carla, committing=True).post(revoke_url(patient))
    mail.outbox.clear()
    c = host_client(committing=True)
    c.post("/portal/", {"id_type": "health-card", "id_number": "7776665554"})
    c.post("/portal/sign-in/contact/", {"contact_type": "email", "contact": PATIENT_EMAIL})
    c.post("/portal/sign-in/check/")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    response = c.post("/portal/sign-in/code/", {"code": code})
    assert response.status_code == 200
    assert "The clinic deactivated portal access for this chart." in response.content.decode()
    assert not PatientAccess.objects.filter(patient=patient, revoked_at__isnull=True).exists()
    assert c.get("/portal/account/").status_code == 302  # not signed in


def test_it_lists_invited_and_not_invited_charts(clinic, patient, front_desk):
    untouched = PatientFactory(clinic=clinic, first_name="Ola", last_name="Untouched")
    staff = staff_client(front_desk, committing=True)
    send(staff, patient)
    invited = staff.get(CHANGELIST, {"portal": "invited"}).context["cl"].result_list
    assert list(invited) == [patient]
    not_invited = staff.get(CHANGELIST, {"portal": "not_invited"}).context["cl"].result_list
    assert list(not_invited) == [untouched]


def test_it_files_a_link_killed_by_wrong_dates_of_birth_as_not_invited(patient, front_desk):
    staff = staff_client(front_desk, committing=True)
    send(staff, patient)
    c = host_client(committing=True)
    open_link(c, last_email_link())
    for wrong_year in range(1970, 1975):
        confirm_dob(c, date(wrong_year, 1, 1))
    assert "Not invited" in staff.get(admin_url(patient)).content.decode()
    invited = staff.get(CHANGELIST, {"portal": "invited"}).context["cl"].result_list
    not_invited = staff.get(CHANGELIST, {"portal": "not_invited"}).context["cl"].result_list
    assert patient not in invited
    assert patient in not_invited


def test_it_does_not_crash_when_the_invited_email_belongs_to_a_staff_account(
    clinic, front_desk, carla
):
    patient = PatientFactory(clinic=clinic, email=front_desk.email, date_of_birth=PATIENT_DOB)
    send(staff_client(carla, committing=True), patient)
    c = host_client(committing=True, raise_request_exception=False)
    open_link(c, last_email_link())
    assert confirm_dob(c, PATIENT_DOB).status_code == 302
    response = create_account(c)
    assert response.status_code in (200, 302)


def test_front_desk_cannot_undo_a_clinic_admins_revocation(patient, front_desk, carla):
    staff_client(carla, committing=True).post(revoke_url(patient))
    patient.refresh_from_db()
    assert patient.portal_revoked_at is not None
    mail.outbox.clear()

    response = send(staff_client(front_desk, committing=True), patient)
    (error,) = flash(response)
    assert "only a clinic admin can send a new registration" in error
    bulk = staff_client(front_desk, committing=True).post(
        CHANGELIST, {"action": "send_portal_registration", "_selected_action": [patient.pk]}
    )
    assert "access was revoked by a clinic admin" in bulk.content.decode()
    patient.refresh_from_db()
    assert patient.portal_revoked_at is not None
    assert mail.outbox == []

    send(staff_client(carla, committing=True), patient)
    patient.refresh_from_db()
    assert patient.portal_revoked_at is None
    assert len(mail.outbox) == 1
