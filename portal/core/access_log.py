"""The access log: one line per request, that never holds a token, an id or a query.

Invitation and reset tokens travel in URL paths, and query strings carry searches and
names, so the line records the URL *pattern* the request matched (``portal/invitation/
<str:token>/``), never the path itself, and no query string. With the request id that
every log line carries (``portal.core.logging``), an operator can follow one request
through the web and the workers without the log ever holding a secret or a patient's
data. Unmatched paths (404s of scanners) are logged as ``-``.
"""

import logging
import time

logger = logging.getLogger("portal.access")


def route_of(request) -> str:
    """The pattern the request matched (its URL namespace and route), or "-"."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "-"
    return match.route or "-"


class AccessLogMiddleware:
    """Log method, matched route, status and duration of every request (INFO)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        logger.info(
            "%s %s %s %.1fms",
            request.method,
            route_of(request),
            response.status_code,
            (time.monotonic() - started) * 1000,
            extra={"route": route_of(request), "status": response.status_code},
        )
        return response
