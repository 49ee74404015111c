"""A visit as a calendar file (iCalendar, RFC 5545), for the appointment emails and the
portal's "Add to calendar" download, and each portal account's private subscription feed.

One UID per visit, so a calendar updates or removes the event it already has; SEQUENCE
from ``Appointment.calendar_sequence``, so the newest version wins; METHOD:CANCEL once
the visit is cancelled. Times are in the clinic's time zone, with its VTIMEZONE. No
reason for the visit, type or speciality: calendars are often shared or synced.
"""

from email.utils import parseaddr

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event, vCalAddress, vText

from appointments.models import Appointment

FILENAME = "appointment.ics"
PRODID = "-//Patient Portal//Appointments//EN"
MIMETYPE = "text/calendar"


def calendar_method(appointment: Appointment) -> str:
    return "CANCEL" if appointment.status == Appointment.Status.CANCELLED else "REQUEST"


def appointment_event(appointment: Appointment, *, attendee: str = "") -> Event:
    """The visit as one VEVENT: the same UID in its emails, its download and the
    account's feed."""
    clinic = appointment.clinic
    cancelled = appointment.status == Appointment.Status.CANCELLED
    event = Event()
    event.add("uid", f"appointment-{appointment.pk}@{clinic.canonical_domain}")
    event.add("sequence", appointment.calendar_sequence)
    event.add("dtstamp", timezone.now())
    event.add("dtstart", timezone.localtime(appointment.start, clinic.tz))
    event.add("dtend", timezone.localtime(appointment.end, clinic.tz))
    event.add("summary", _("Appointment at %(clinic)s") % {"clinic": clinic.public_name})
    event.add(
        "description",
        _("With %(provider)s. To see or cancel it, sign in to the patient portal: %(url)s")
        % {"provider": appointment.provider.name, "url": clinic.build_url("/portal/")},
    )
    if clinic.address:
        event.add("location", clinic.address)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    organizer = vCalAddress(f"mailto:{parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}")
    organizer.params["cn"] = vText(clinic.public_name)
    event.add("organizer", organizer)
    if attendee:
        event.add("attendee", vCalAddress(f"mailto:{attendee}"))
    return event


def appointment_calendar(appointment: Appointment, *, attendee: str = "") -> bytes:
    """The visit's .ics in the active language. ``attendee``: the email address it is
    sent to, if any (an invitation names who it invites)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", calendar_method(appointment))
    calendar.add_component(appointment_event(appointment, attendee=attendee))
    calendar.add_missing_timezones()
    return calendar.to_ical()


def feed_calendar(*, clinic, appointments) -> bytes:
    """An account's subscription feed: every visit given, cancelled ones with STATUS
    CANCELLED; no METHOD (a published calendar, not an invitation)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", _("Appointments at %(clinic)s") % {"clinic": clinic.public_name})
    calendar.add("x-wr-timezone", str(clinic.tz))
    for appointment in appointments:
        calendar.add_component(appointment_event(appointment))
    calendar.add_missing_timezones()
    return calendar.to_ical()
