"""/readyz: can this process serve? The database, the cache, the broker and the
notification backlog; a 503 names what failed and nothing else."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.notifications.models import Notification
from tests.clients import host_client
from tests.network import celery_publishing_to, closed_port

pytestmark = pytest.mark.django_db

REDIS = os.environ.get("REDIS_URL", "")


def _due_email(clinic, *, due_for):
    return Notification.objects.create(
        clinic=clinic,
        channel="email",
        recipient="olivia@example.com",
        template="staff_test",
        next_attempt_at=timezone.now() - due_for,
    )


def test_it_is_ready_with_the_embedded_defaults(clinic, frozen, settings):
    settings.REDIS_URL = ""
    response = host_client("demo").get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "failed": [],
        "checks": {
            "database": "ok",
            "cache": "ok",
            "broker": "not configured",
            "notifications": "ok",
        },
        "oldest_due_notification_seconds": 0,
    }
    assert "no-store" in response["Cache-Control"]


def test_it_answers_on_the_base_domain_and_unknown_clinics_without_naming_one(clinic):
    for host in ("localhost", "no-such-clinic"):
        response = host_client(host).get("/readyz")
        assert response.status_code == 200
        assert "demo" not in response.content.decode().lower()


def test_it_fails_when_a_notification_waits_past_the_limit(clinic, frozen, settings):
    settings.PORTAL_READYZ_NOTIFICATION_DELAY_SECONDS = 600
    _due_email(clinic, due_for=timedelta(seconds=600))
    assert host_client("demo").get("/readyz").status_code == 200

    _due_email(clinic, due_for=timedelta(seconds=601))
    response = host_client("demo").get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["notifications"]
    assert body["oldest_due_notification_seconds"] == 601


def test_a_notification_waiting_for_its_retry_is_not_late(clinic, frozen):
    row = _due_email(clinic, due_for=timedelta(hours=-1))
    row.created_at = timezone.now() - timedelta(hours=2)
    row.save(update_fields=["created_at"])
    assert host_client("demo").get("/readyz").status_code == 200


def test_sent_and_failed_notifications_do_not_count(clinic, frozen):
    for status in (Notification.Status.SENT, Notification.Status.FAILED):
        row = _due_email(clinic, due_for=timedelta(days=2))
        row.status = status
        row.save(update_fields=["status"])
    assert host_client("demo").get("/readyz").status_code == 200


def test_it_fails_when_the_database_fails(clinic, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise RuntimeError("postgres://portal:s3cret@db.internal/portal is down")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = host_client("demo").get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database", "notifications"]
    assert "s3cret" not in response.content.decode()


def test_it_fails_when_redis_is_down(clinic, settings, caplog):
    down = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"
    settings.REDIS_URL = down
    settings.CACHES = {
        "default": {"BACKEND": "portal.core.redis_cache.KeptClientRedisCache", "LOCATION": down}
    }
    with celery_publishing_to(down):
        response = host_client("demo").get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker", "cache"]
    assert body["checks"]["database"] == "ok"
    assert "s3cret" not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()
    # The log says what failed, by name and exception type only.
    assert "readyz: cache failed (ConnectionError)" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.redis
def test_it_is_ready_with_redis(clinic, settings):
    if not REDIS.startswith("redis://"):
        pytest.skip("needs Redis: run with REDIS_URL=redis://... (CI's second run does)")
    settings.REDIS_URL = REDIS
    settings.CACHES = {
        "default": {
            "BACKEND": "portal.core.redis_cache.KeptClientRedisCache",
            "LOCATION": REDIS,
            "KEY_PREFIX": "readyz-test",
        }
    }
    with celery_publishing_to(REDIS):
        response = host_client("demo").get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] == "ok"
