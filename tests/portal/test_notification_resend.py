"""Staff resend a notification that did not arrive: from the admin, audited, once, in
their own clinic; an "unknown" outcome only after they confirm it did not arrive."""

import pytest
from django.core import mail

from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from portal.notifications.services import (
    ConfirmationRequired,
    NotResendable,
    notification_resend,
)
from tests.clients import committed, staff_client
from tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db

URL = "/admin/notifications/notification/"
Status = Notification.Status


def _row(clinic, status, **fields):
    fields = {"recipient": "admin@demo.example", "language": "fr", "last_error": "refused"} | fields
    return NotificationFactory(clinic=clinic, status=status, **fields)


def _resend(client, *rows, **extra):
    return client.post(
        URL,
        {"action": "resend", "_selected_action": [row.pk for row in rows], **extra},
        follow=True,
    )


# --- the service ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.FAILED, Status.UNDELIVERED])
def test_it_sends_a_new_copy_of_a_notification_that_did_not_arrive(clinic, now, frozen, status):
    original = _row(clinic, status)
    copy = committed(notification_resend, clinic=clinic, notification_id=original.pk)

    copy.refresh_from_db()
    assert copy.pk != original.pk
    assert copy.status == Status.SENT
    assert (copy.channel, copy.recipient, copy.template, copy.language) == (
        original.channel,
        original.recipient,
        original.template,
        "fr",
    )
    assert [message.to for message in mail.outbox] == [["admin@demo.example"]]
    original.refresh_from_db()
    assert original.status == status, "the original keeps what happened to it"
    assert original.resent_at == now


def test_it_resends_a_notification_once(clinic):
    original = _row(clinic, Status.FAILED)
    notification_resend(clinic=clinic, notification_id=original.pk)
    with pytest.raises(NotResendable):
        notification_resend(clinic=clinic, notification_id=original.pk)
    assert Notification.objects.count() == 2


@pytest.mark.parametrize(
    "status",
    [Status.PENDING, Status.SENDING, Status.SENT, Status.DELIVERED, Status.CANCELLED],
)
def test_it_refuses_what_arrived_or_is_still_on_its_way(clinic, status):
    original = _row(clinic, status)
    with pytest.raises(NotResendable):
        notification_resend(clinic=clinic, notification_id=original.pk)
    assert Notification.objects.count() == 1


def test_an_unknown_outcome_needs_a_confirmation(clinic):
    original = _row(clinic, Status.UNKNOWN)
    with pytest.raises(ConfirmationRequired):
        notification_resend(clinic=clinic, notification_id=original.pk)
    copy = notification_resend(clinic=clinic, notification_id=original.pk, confirmed_unknown=True)
    assert copy.status == Status.PENDING


def test_it_does_not_see_another_clinics_notification(clinic, other_clinic):
    theirs = _row(other_clinic, Status.FAILED)
    with pytest.raises(Notification.DoesNotExist):
        notification_resend(clinic=clinic, notification_id=theirs.pk)


# --- the admin action -----------------------------------------------------------------------


def test_a_clinic_admin_resends_a_failed_notification_and_it_is_audited(clinic, clinic_admin):
    original = _row(clinic, Status.FAILED)
    response = _resend(staff_client(clinic_admin, committing=True), original)

    assert response.status_code == 200
    assert "1 notification was queued again." in response.content.decode()
    copy = Notification.objects.exclude(pk=original.pk).get()
    assert copy.status == Status.SENT
    event = AuditEvent.objects.get(action="notification.resent")
    assert event.clinic == clinic
    assert event.actor == clinic_admin
    assert (event.object_type, event.object_id) == ("notifications.notification", str(original.pk))
    assert event.details == {
        "status": "failed",
        "channel": "email",
        "template": "staff_test",
        "copy_id": copy.pk,
    }
    assert "admin@demo.example" not in str(event.details), "no contact in the audit details"


def test_an_unknown_outcome_is_resent_only_after_the_confirmation_page(clinic, clinic_admin):
    failed = _row(clinic, Status.FAILED)
    unknown = _row(clinic, Status.UNKNOWN, last_error="twilio: server error (503)")
    client = staff_client(clinic_admin)

    page = _resend(client, failed, unknown)
    text = page.content.decode()
    assert "may already have delivered this notification" in text
    assert "twilio: server error (503)" in text
    assert 'name="confirm_unknown" value="yes"' in text
    assert Notification.objects.count() == 2, "nothing is resent before the answer"
    assert not AuditEvent.objects.filter(action="notification.resent").exists()

    done = _resend(client, failed, unknown, confirm_unknown="yes")
    assert "2 notifications were queued again." in done.content.decode()
    assert Notification.objects.count() == 4
    assert AuditEvent.objects.filter(action="notification.resent").count() == 2


def test_the_confirmation_page_is_in_french(clinic, clinic_admin):
    unknown = _row(clinic, Status.UNKNOWN)
    client = staff_client(clinic_admin)
    client.cookies["django_language"] = "fr"
    text = _resend(client, unknown).content.decode()
    assert "Oui, les renvoyer" in text
    assert "Resend" not in text


def test_what_cannot_be_resent_is_reported_and_left_alone(clinic, clinic_admin):
    sent = _row(clinic, Status.SENT)
    response = _resend(staff_client(clinic_admin), sent)
    assert "1 notification was not resent" in response.content.decode()
    assert Notification.objects.count() == 1
    assert not AuditEvent.objects.filter(action="notification.resent").exists()


def test_front_desk_staff_cannot_resend(clinic, front_desk):
    failed = _row(clinic, Status.FAILED)
    client = staff_client(front_desk)
    assert 'value="resend"' not in client.get(URL).content.decode()
    _resend(client, failed)
    assert Notification.objects.count() == 1


def test_another_clinics_notification_is_out_of_reach(clinic, clinic_admin, other_clinic):
    theirs = _row(other_clinic, Status.FAILED)
    _resend(staff_client(clinic_admin), theirs)
    assert Notification.objects.count() == 1
    assert not AuditEvent.objects.exists()
