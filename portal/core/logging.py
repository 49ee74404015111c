"""Logging helpers: the request id on every record."""

import logging

from django_guid import get_guid


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id``: the id of the request or task being handled (django-guid
    keeps it in a context variable), or "-" outside one (startup, beat)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_guid() or "-"
        return True
