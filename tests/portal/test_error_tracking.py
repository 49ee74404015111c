"""Optional error tracking: off without SENTRY_DSN; when on, nothing personal leaves."""

from unittest import mock

from portal.core import error_tracking


def _event():
    return {
        "request": {
            "method": "POST",
            "url": "https://demo.portal.test/portal/invitation/secret-token/",
            "query_string": "name=Olivia",
            "data": {"body": "my test results"},
            "cookies": {"sessionid": "abc"},
            "headers": {"Cookie": "sessionid=abc"},
        },
        "user": {"id": 7, "email": "olivia@example.com"},
        "extra": {"patient": "Olivia Martin"},
        "server_name": "web-1",
        "transaction": "/portal/invitation/secret-token/",
        "transaction_info": {"source": "url"},
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "bad date for Olivia Martin",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "save",
                                "vars": {"body": "my test results"},
                                "context_line": "raise ValueError(patient.name)",
                            }
                        ]
                    },
                }
            ]
        },
        "breadcrumbs": {
            "values": [{"category": "query", "message": "SELECT ... 'Olivia'", "data": {"x": 1}}]
        },
        "logentry": {"message": "failed for %s", "params": ["Olivia"]},
    }


def test_an_event_keeps_no_personal_or_health_data():
    scrubbed = error_tracking.scrub(_event())
    text = repr(scrubbed)
    for secret in ("Olivia", "secret-token", "my test results", "sessionid", "web-1"):
        assert secret not in text, secret
    assert scrubbed["request"] == {"method": "POST"}
    assert scrubbed["exception"]["values"][0]["type"] == "ValueError"
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]["function"] == "save"


def test_the_sdk_starts_without_pii_local_variables_or_bodies():
    with mock.patch.object(error_tracking.sentry_sdk, "init") as init:
        error_tracking.error_tracking_start("https://key@sentry.invalid/1")
    options = init.call_args.kwargs
    assert options["send_default_pii"] is False
    assert options["include_local_variables"] is False
    assert options["max_request_body_size"] == "never"
    assert options["before_send"] is error_tracking.scrub
