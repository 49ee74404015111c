"""Reading the calendar files (.ics) the appointment emails and pages send."""

import icalendar


def calendar_parts(email):
    """The text/calendar parts of a sent email (django.core.mail message)."""
    return [p for p in email.message().walk() if p.get_content_type() == "text/calendar"]


def calendar_of(email) -> icalendar.Calendar:
    [part] = calendar_parts(email)
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def event_of(calendar: icalendar.Calendar) -> icalendar.Event:
    [event] = calendar.walk("VEVENT")
    return event
