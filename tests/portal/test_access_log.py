"""The access log: a line per request with the matched route, never a path's token, an
id, or a query string."""

import logging

import pytest

from tests.clients import host_client

pytestmark = pytest.mark.django_db


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "portal.access"]


def test_a_request_is_logged_by_its_route_never_its_token_or_query(clinic, caplog):
    token = "Zq3secret-invitation-token-value"
    with caplog.at_level(logging.INFO, logger="portal.access"):
        host_client().get(f"/portal/invitation/{token}/?name=Olivia+Martin&dob=1980-01-01")
    [line] = _lines(caplog)
    assert line.startswith("GET portal/invitation/<str:token>/ ")
    assert token not in line
    assert "Olivia" not in line and "dob" not in line and "?" not in line


def test_an_unmatched_path_is_logged_without_it(clinic, caplog):
    with caplog.at_level(logging.INFO, logger="portal.access"):
        response = host_client().get("/wp-admin/secret-looking-path/")
    assert response.status_code == 404
    [line] = _lines(caplog)
    assert line.startswith("GET - 404 ")
    assert "secret-looking-path" not in line


def test_each_line_carries_the_request_id(clinic, caplog):
    with caplog.at_level(logging.INFO, logger="portal.access"):
        response = host_client().get("/portal/")
    [record] = [r for r in caplog.records if r.name == "portal.access"]
    assert record.request_id == response["X-Request-ID"]


def test_csrf_failures_and_errors_log_the_route_not_the_token(clinic, caplog):
    """Django's own loggers write the request path (CSRF failures, 404s, 500s); the
    handler's filter leaves the matched route in their line instead."""
    from django.conf import settings

    from portal.core.access_log import RoutesNotPaths

    assert "routes_not_paths" in settings.LOGGING["handlers"]["console"]["filters"]
    token = "Zq3secret-invitation-token-value"
    client = host_client(enforce_csrf_checks=True)
    with caplog.at_level(logging.INFO):
        response = client.post(f"/portal/invitation/{token}/", {"x": "1"})
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name.startswith("django.security")]
    assert records, "Django logs the CSRF failure"
    for record in records:
        RoutesNotPaths().filter(record)  # what the console handler's filter does
        assert token not in record.getMessage()
        assert "portal/invitation/<str:token>/" in record.getMessage()


def test_a_made_up_method_is_logged_as_other(clinic, caplog):
    with caplog.at_level(logging.INFO, logger="portal.access"):
        host_client().generic("OLIVIA-MARTIN-1980", "/portal/")
    [line] = _lines(caplog)
    assert line.startswith("OTHER portal/ ")


def test_the_filter_replaces_the_path_django_wrote():
    from django.test import RequestFactory

    from portal.core.access_log import RoutesNotPaths

    request = RequestFactory().post("/portal/invitation/Zq3secret/")
    record = logging.makeLogRecord(
        {
            "name": "django.security.csrf",
            "msg": "Forbidden (%s): %s",
            "args": ("CSRF cookie not set.", request.path),
            "request": request,
        }
    )
    assert "Zq3secret" in record.getMessage()
    RoutesNotPaths().filter(record)
    assert record.getMessage() == "Forbidden (CSRF cookie not set.): -"
