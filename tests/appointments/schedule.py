"""The appointments tests' calendar: the clinic's time zone and the moment their clock
stands at (the ``frozen`` fixture; tests/appointments/conftest.py), and what the pages
post."""

import datetime as dt
import zoneinfo

TORONTO = zoneinfo.ZoneInfo("America/Toronto")
# A Monday morning in Toronto, before opening.
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=TORONTO)


def local(day, hour, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute)).replace(tzinfo=TORONTO)


def confirmed_booking(provider, visit_type, start, reason="x"):
    """What the portal's confirm page posts for a visit at ``start`` (or a forged POST)."""
    return {
        "appointment_type": visit_type.pk,
        "provider": provider.pk,
        "start": start.isoformat(),
        "reason": reason,
        "confirm": "1",
    }


def admin_booking(patient, provider, visit_type, start, override=(), reason=""):
    """What the admin's add form posts for a visit at ``start`` (clinic time)."""
    local_start = start.astimezone(TORONTO)
    return {
        "patient": patient.pk,
        "provider": provider.pk,
        "appointment_type": visit_type.pk,
        "start_0": local_start.date().isoformat(),
        "start_1": local_start.strftime("%H:%M:%S"),
        "reason": reason,
        "override": list(override),
    }
