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


METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def method_of(request) -> str:
    """The request's method, or OTHER for anything a client made up."""
    return request.method if request.method in METHODS else "OTHER"


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
            method_of(request),
            route_of(request),
            response.status_code,
            (time.monotonic() - started) * 1000,
            extra={"route": route_of(request), "status": response.status_code},
        )
        return response


class RoutesNotPaths(logging.Filter):
    """On the log handler: Django's own request loggers (``django.request`` for 5xx and
    404s, ``django.security.*`` for CSRF failures) write the request's full path, which
    can hold an invitation or reset token or an object id. Their line keeps the matched
    route instead. The development server's request lines are reduced to the status."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        if record.name == "django.server":
            record.msg, record.args = (
                "development server answered %s",
                (getattr(record, "status_code", "-"),),
            )
        elif isinstance(path, str) and path:
            message = record.getMessage()
            record.msg, record.args = message.replace(path, route_of(request)), ()
        return True
