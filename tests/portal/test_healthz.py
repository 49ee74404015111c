import pytest

from tests.clients import host_client

pytestmark = pytest.mark.django_db


def test_it_reports_the_database(clinic):
    response = host_client("demo").get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"


def test_it_answers_on_any_host_and_names_no_clinic(clinic):
    response = host_client("10.0.0.5").get("/healthz", HTTP_HOST="localhost")
    assert response.status_code == 200
    assert "demo" not in response.content.decode().lower()


def test_it_reports_503_when_the_database_fails(clinic, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = host_client("demo").get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error"


def test_it_checks_redis_when_configured(clinic, settings):
    settings.REDIS_URL = "redis://configured"
    response = host_client("demo").get("/healthz")
    assert response.json()["checks"]["redis"] in ("ok", "error")
    assert response.json()["checks"]["redis"] != "not configured"
