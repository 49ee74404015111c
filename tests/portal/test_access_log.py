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
