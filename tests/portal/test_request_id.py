"""A request id on every request: kept from a proxy when well formed, returned in the
response, on every log line, and carried to the Celery tasks the request queues."""

import io
import json
import logging
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery.app.trace import build_tracer
from django_guid import clear_guid, get_guid, set_guid

from portal.core.logging import RequestIdFilter
from portal.notifications import tasks
from portal.notifications.delivery import SendOutcome
from tests.clients import host_client
from tests.network import celery_publishing_to

ROOT = Path(__file__).resolve().parents[2]
GENERATED = re.compile(r"^[0-9a-f]{32}$")

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_request_id():
    clear_guid()
    yield
    clear_guid()


@pytest.fixture
def console_log():
    """What the settings' console handler writes, while the test runs."""
    (handler,) = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RequestIdFilter) for f in handler.filters)
    ]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_every_response_carries_a_new_request_id(clinic):
    first = host_client("demo").get("/portal/")["X-Request-ID"]
    second = host_client("localhost").get("/healthz")["X-Request-ID"]
    assert GENERATED.match(first) and GENERATED.match(second)
    assert first != second


# Named, not shown: each process of a run collects the same test names (pytest-xdist).
@pytest.mark.parametrize("given", [uuid.uuid4().hex, str(uuid.uuid4())], ids=["hex", "hyphenated"])
def test_a_well_formed_id_from_the_proxy_is_kept(clinic, given):
    response = host_client("demo").get("/portal/", HTTP_X_REQUEST_ID=given)
    assert response["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given", ["1", "x" * 300, "<script>alert(1)</script>", "abc def", "' OR 1=1 --"]
)
def test_anything_else_is_replaced(clinic, given):
    response = host_client("demo").get("/portal/", HTTP_X_REQUEST_ID=given)
    assert GENERATED.match(response["X-Request-ID"])


def test_log_lines_of_a_request_carry_its_id(clinic, monkeypatch, console_log):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = host_client("demo").get("/readyz")
    request_id = response["X-Request-ID"]
    assert f"[{request_id}] readyz: database failed (RuntimeError)" in console_log.getvalue()


def test_log_lines_outside_a_request_say_so(no_request_id, console_log):
    logging.getLogger("portal.test").warning("starting")
    assert "[-] starting" in console_log.getvalue()


def _python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_log_format_json_writes_one_object_per_line_with_the_request_id():
    result = _python(
        "import django, logging; django.setup(); from django_guid import set_guid;"
        "set_guid('4f1c0d0e9a8b4c7d8e6f5a4b3c2d1e0f');"
        "logging.getLogger('portal.test').warning('sent %s', 3)",
        LOG_FORMAT="json",
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["request_id"] == "4f1c0d0e9a8b4c7d8e6f5a4b3c2d1e0f"
    assert line["message"] == "sent 3"
    assert line["level"] == "WARNING"
    assert line["logger"] == "portal.test"


def test_an_unknown_log_format_is_refused():
    result = _python("import django; django.setup()", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert 'LOG_FORMAT must be "plain" or "json"' in result.stderr


# --- Celery ---------------------------------------------------------------------------------


def test_a_queued_task_carries_the_request_id(no_request_id):
    set_guid("9d8c7b6a5f4e4d3c8b2a19f8e7d6c5b4")
    with celery_publishing_to("memory://") as app:
        tasks.send_notification.delay(1, 2)
        with app.connection_for_read() as connection:
            queue = connection.SimpleQueue("celery")
            message = queue.get(timeout=2)
            message.ack()
            queue.close()
    assert message.headers["portal_request_id"] == "9d8c7b6a5f4e4d3c8b2a19f8e7d6c5b4"
    assert message.headers["task"] == "portal.notifications.tasks.send_notification"


def _run_in_a_worker(monkeypatch, headers):
    """Run send_notification as a worker runs a message (not eagerly), recording the request
    id it runs under."""
    seen = []

    def record(**kwargs):
        seen.append(get_guid())
        return SendOutcome("sent")

    monkeypatch.setattr(tasks, "notification_send", record)
    task = tasks.send_notification
    tracer = build_tracer(task.name, task, app=task.app, eager=False, propagate=True)
    tracer(str(uuid.uuid4()), (1, 2), {}, {"id": "t", **headers})
    return seen


def test_the_worker_runs_the_task_under_the_request_id_and_forgets_it(monkeypatch, no_request_id):
    seen = _run_in_a_worker(monkeypatch, {"portal_request_id": "0a1b2c3d4e5f40718293a4b5c6d7e8f9"})
    assert seen == ["0a1b2c3d4e5f40718293a4b5c6d7e8f9"]
    assert get_guid() is None


def test_a_task_beat_started_gets_an_id_of_its_own(monkeypatch, no_request_id):
    seen = _run_in_a_worker(monkeypatch, {})
    assert GENERATED.match(seen[0])


def test_a_task_run_in_process_keeps_the_callers_id(clinic, no_request_id):
    set_guid("11112222333344445555666677778888")
    tasks.send_notification.apply(args=(0, clinic.pk))
    assert get_guid() == "11112222333344445555666677778888"


def test_the_worker_logs_through_the_settings_at_its_own_level():
    result = _python(
        "import django, logging; django.setup();"
        "from portal.celery import use_the_portals_logging;"
        "use_the_portals_logging(loglevel='INFO');"
        "logging.getLogger('celery.app.trace').info('Task succeeded')",
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert (line["message"], line["request_id"]) == ("Task succeeded", "-")
