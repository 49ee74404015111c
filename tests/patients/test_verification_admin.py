"""Front desk decides identity verification requests: Accept links, Decline tells."""

import pytest
from django.core import mail

from patients.models import PatientAccess, VerificationRequest
from portal.audit.models import AuditEvent
from portal.notifications import sms
from tests.clients import host_client, portal_client, staff_client
from tests.patients.flows import (
    CHART_DOB_TEXTS,
    CHART_EMAIL,
    CHART_ID_NORMALISED,
    CHART_MOBILE,
    OTHER_MOBILE,
    sign_in,
    signed_in,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/patients/verificationrequest/"


def _ask(contact=OTHER_MOBILE, contact_type="sms"):
    """Someone gives the chart's ID with a contact of their own and proves it."""
    c = host_client(committing=True)
    answer = sign_in(c, contact=contact, contact_type=contact_type)
    assert "The clinic will confirm your identity" in answer.content.decode()
    return c


def _decide(staff, action, *requests):
    return staff_client(staff, committing=True).post(
        CHANGELIST, {"action": action, "_selected_action": [r.pk for r in requests]}
    )


def _chart_data(chart):
    return [
        chart.first_name,
        chart.last_name,
        *CHART_DOB_TEXTS,
        CHART_MOBILE,
        CHART_EMAIL,
        CHART_ID_NORMALISED,
    ]


def test_front_desk_sees_the_pending_requests(chart, front_desk):
    _ask()
    page = staff_client(front_desk, committing=True).get(CHANGELIST)
    assert page.status_code == 200
    content = page.content.decode()
    assert "Oyelaran, Margaret" in content
    assert "(613) 555-0199" in content  # shown as the clinic writes numbers
    assert "Pending" in content


def test_accepting_links_the_account_to_the_chart(chart, front_desk):
    _ask()
    request = VerificationRequest.objects.get()
    response = _decide(front_desk, "accept", request)
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == VerificationRequest.Status.ACCEPTED
    assert request.decided_by == front_desk
    assert request.decided_at is not None
    grant = PatientAccess.objects.get(patient=chart)
    assert grant.user == request.user
    assert grant.relationship == "self"
    event = AuditEvent.objects.get(action="verification.accepted")
    assert (event.actor, event.acting_for) == (front_desk, chart)
    # The account now reaches the chart.
    home = portal_client(request.user).get("/portal/")
    assert home.status_code == 200
    assert "Hello" in home.content.decode()
    page = staff_client(front_desk, committing=True).get(CHANGELIST, follow=True).content.decode()
    assert "Accepted" in page


def test_after_acceptance_the_person_signs_in_with_id_and_contact(chart, front_desk):
    _ask()
    _decide(front_desk, "accept", VerificationRequest.objects.get())
    c = host_client(committing=True)
    response = sign_in(c, contact=OTHER_MOBILE)
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert signed_in(c)
    assert VerificationRequest.objects.count() == 1


def test_accepting_twice_changes_nothing_the_second_time(chart, front_desk):
    _ask()
    request = VerificationRequest.objects.get()
    _decide(front_desk, "accept", request)
    request.refresh_from_db()
    decided_at = request.decided_at
    second = staff_client(front_desk, committing=True).post(
        CHANGELIST, {"action": "accept", "_selected_action": [request.pk]}, follow=True
    )
    assert "0 accepted; 1 were already decided." in second.content.decode()
    request.refresh_from_db()
    assert request.decided_at == decided_at
    assert PatientAccess.objects.filter(patient=chart).count() == 1
    assert AuditEvent.objects.filter(action="verification.accepted").count() == 1


def test_declining_tells_the_proven_contact_and_grants_nothing(chart, front_desk):
    _ask()
    request = VerificationRequest.objects.get()
    texts_before = len(sms.outbox)
    response = staff_client(front_desk, committing=True).post(
        CHANGELIST, {"action": "decline", "_selected_action": [request.pk]}, follow=True
    )
    assert "1 declined and told; 0 were already decided." in response.content.decode()
    request.refresh_from_db()
    assert request.status == VerificationRequest.Status.DECLINED
    assert request.decided_by == front_desk
    assert not PatientAccess.objects.filter(patient=chart).exists()
    assert len(sms.outbox) == texts_before + 1
    told = sms.outbox[-1]
    assert told.to == OTHER_MOBILE
    assert "Demo Family Clinic could not confirm your identity" in told.body
    for text in _chart_data(chart):
        assert text not in told.body, text
    assert AuditEvent.objects.filter(action="verification.declined").count() == 1
    assert not signed_in(portal_client(request.user))


def test_declining_an_email_request_emails_nothing_of_the_chart(chart, front_desk):
    _ask(contact="someone.else@example.com", contact_type="email")
    request = VerificationRequest.objects.get()
    _decide(front_desk, "decline", request)
    told = mail.outbox[-1]
    assert told.to == ["someone.else@example.com"]
    assert "could not confirm your identity" in told.body
    for part in [told.subject, told.body, told.alternatives[0][0]]:
        for text in _chart_data(chart):
            assert text not in part, text


def test_a_declined_request_cannot_be_accepted_later(chart, front_desk):
    _ask()
    request = VerificationRequest.objects.get()
    _decide(front_desk, "decline", request)
    _decide(front_desk, "accept", request)
    request.refresh_from_db()
    assert request.status == VerificationRequest.Status.DECLINED
    assert not PatientAccess.objects.filter(patient=chart).exists()


def test_declining_twice_tells_them_once(chart, front_desk):
    _ask()
    request = VerificationRequest.objects.get()
    _decide(front_desk, "decline", request)
    texts = len(sms.outbox)
    _decide(front_desk, "decline", request)
    assert len(sms.outbox) == texts


def test_staff_of_another_clinic_cannot_decide(chart, other_clinic, outsider_staff):
    _ask()
    request = VerificationRequest.objects.get()
    assert staff_client(outsider_staff, committing=True).get(CHANGELIST).status_code == 200
    _decide(outsider_staff, "accept", request)
    request.refresh_from_db()
    assert request.status == VerificationRequest.Status.PENDING
    assert not PatientAccess.objects.exists()


def test_a_patient_account_cannot_reach_the_requests(chart, rosa):
    _ask()
    response = host_client("demo", rosa, committing=True).post(
        CHANGELIST,
        {"action": "accept", "_selected_action": [VerificationRequest.objects.get().pk]},
    )
    assert response.status_code == 302
    assert not response["Location"].startswith(CHANGELIST)
    assert VerificationRequest.objects.get().status == VerificationRequest.Status.PENDING
