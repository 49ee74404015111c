"""/metrics: the outbox in Prometheus' text format, for the operator's scraper only.
Off without PORTAL_METRICS_TOKEN; a scrape must send the token; the numbers come from
the database at scrape time (so every worker answers the same) in two queries."""

import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal.notifications.models import Notification
from tests.clients import host_client
from tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-" + "q8" * 12
Status = Notification.Status


@pytest.fixture
def metrics_on(settings):
    settings.PORTAL_METRICS_TOKEN = TOKEN


def scrape(host="localhost", token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return host_client(host).get("/metrics", headers=headers)


def samples(response):
    """{(metric name, labels as a sorted tuple): value} of a scrape."""
    text = response.content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def count(found, status, channel):
    return found[("portal_notifications", (("channel", channel), ("status", status)))]


@pytest.fixture
def outbox(clinic, other_clinic, frozen, now):
    """Sent, failed (recently and long ago) and due notifications at two clinics."""
    frozen.move_to(now - dt.timedelta(hours=3))
    NotificationFactory(clinic=clinic, channel="sms", status=Status.FAILED)
    frozen.move_to(now)
    NotificationFactory.create_batch(3, clinic=clinic, status=Status.SENT)
    NotificationFactory(clinic=other_clinic, status=Status.SENT)
    NotificationFactory(clinic=clinic, channel="sms", status=Status.FAILED)
    NotificationFactory(clinic=other_clinic, channel="sms", status=Status.UNDELIVERED)
    NotificationFactory(clinic=clinic, next_attempt_at=now - dt.timedelta(seconds=95))
    NotificationFactory(clinic=clinic, next_attempt_at=now - dt.timedelta(seconds=5))
    # Pending but not due yet (a retry later): not part of the backlog.
    NotificationFactory(clinic=clinic, next_attempt_at=now + dt.timedelta(minutes=5))


def test_a_scrape_counts_notifications_by_status_and_channel(metrics_on, outbox):
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-store" in response["Cache-Control"]
    found = samples(response)
    assert count(found, "sent", "email") == 4
    assert count(found, "pending", "email") == 3
    assert count(found, "failed", "sms") == 2
    assert count(found, "undelivered", "sms") == 1
    # Every status and channel is there, at 0 when none has it.
    assert count(found, "delivered", "sms") == 0
    assert count(found, "over_limit", "email") == 0


def test_it_shows_the_failures_of_the_last_hour_and_the_due_backlog(metrics_on, outbox):
    found = samples(scrape())
    # The failure three hours ago no longer counts; the undelivered text does.
    assert found[("portal_notifications_failed_last_hour", (("channel", "sms"),))] == 2
    assert found[("portal_notifications_failed_last_hour", (("channel", "email"),))] == 0
    assert found[("portal_notifications_due", ())] == 2
    assert found[("portal_notification_oldest_due_age_seconds", ())] == 95


def test_an_empty_outbox_waits_for_nothing(metrics_on, frozen):
    found = samples(scrape())
    assert found[("portal_notification_oldest_due_age_seconds", ())] == 0
    assert found[("portal_notifications_due", ())] == 0
    assert count(found, "pending", "sms") == 0


def test_a_scrape_costs_two_queries(metrics_on, outbox, django_assert_num_queries):
    with django_assert_num_queries(2):
        assert scrape().status_code == 200


def test_no_recipient_clinic_or_template_is_in_the_metrics(metrics_on, outbox, clinic):
    text = scrape().content.decode()
    for private in ("patient@example.com", "+16135550123", "staff_test", clinic.slug):
        assert private not in text
    assert "clinic" not in text


def test_metrics_are_off_without_a_token(outbox):
    assert scrape().status_code == 404


@pytest.mark.parametrize("token", [None, "", "wrong-" + TOKEN, TOKEN[:-1]])
def test_a_scrape_without_the_token_is_refused(metrics_on, outbox, token):
    response = scrape(token=token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"portal_notifications" not in response.content


def test_a_basic_credential_is_not_the_token(metrics_on, outbox):
    response = host_client("localhost").get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert response.status_code == 401


def test_the_metrics_answer_on_a_clinic_host_too(metrics_on, outbox):
    assert scrape(host="demo").status_code == 200


def test_only_get_is_allowed(metrics_on):
    response = host_client("localhost").post(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 405
