"""The appointments tests' calendar: the clinic's time zone and the moment their clock
stands at (the ``frozen`` fixture; tests/appointments/conftest.py)."""

import datetime as dt
import zoneinfo

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
# A Monday morning in Toronto, before opening.
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=TORONTO)


def local(day, hour, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute)).replace(tzinfo=TORONTO)
