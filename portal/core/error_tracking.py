"""Optional error tracking with Sentry (``SENTRY_DSN``), sending as little as it can.

A portal's errors happen in the middle of health information: request bodies (messages,
chart changes), query strings (searches), URL paths (invitation and reset tokens), cookies,
local variables and the signed-in user could all reach the tracker. So the SDK is set up
not to collect them (``send_default_pii`` off, no local variables, no request bodies), and
every event passes ``scrub`` before it leaves: the request keeps only its method and the
transaction keeps the URL pattern it matched (never a raw path), the user and
breadcrumbs' data are dropped, and exception values
(which can quote data) are replaced by their type. What stays: the exception type, the
stack of file names and functions, the release and the request id.
"""

import sentry_sdk
from django_guid import get_guid
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration


def scrub(event, hint=None):
    """The event with everything that could hold personal or health data removed."""
    request = event.get("request") or {}
    event["request"] = {"method": request.get("method", "")}
    event.pop("user", None)
    event.pop("extra", None)
    event["server_name"] = ""
    if (event.get("transaction_info") or {}).get("source") != "route":
        # Without a matched pattern the SDK names the transaction by the raw path.
        event["transaction"] = ""
    for exception in (event.get("exception") or {}).get("values") or []:
        exception["value"] = exception.get("type", "")
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
            frame.pop("context_line", None)
            frame.pop("pre_context", None)
            frame.pop("post_context", None)
    for crumb in (event.get("breadcrumbs") or {}).get("values") or []:
        crumb.pop("data", None)
        crumb["message"] = crumb.get("category", "")
    if "logentry" in event:
        event["logentry"] = {"message": (event["logentry"] or {}).get("message", "")}
    event["tags"] = {**(event.get("tags") or {}), "request_id": get_guid() or "-"}
    return event


def error_tracking_start(dsn: str) -> None:
    """Start the SDK (once, from ``portal.core``'s ready()) when a DSN is configured."""
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        include_source_context=False,
        max_request_body_size="never",
        before_send=scrub,
        before_send_transaction=lambda event, hint: None,  # errors only, no traces
        traces_sample_rate=0,
    )
