"""Appointment notices. Emails name the clinic, its address, the date and time, the
provider and the type of appointment, and carry the visit's calendar file; text messages
name only the clinic, the date and the time. Never the reason for the visit or the
provider's speciality."""

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from appointments.calendar import FILENAME, MIMETYPE, appointment_calendar, calendar_method
from appointments.models import Appointment
from portal.notifications.registry import Attachment, Obsolete, register, register_attachments


def _appointment(notification):
    appointment = (
        Appointment.objects.for_clinic(notification.clinic)
        .select_related("provider", "appointment_type", "clinic")
        .filter(pk=notification.context["appointment_id"])
        .first()
    )
    if appointment is None:
        raise Obsolete("the appointment is gone")
    return appointment


def _when(notification):
    appointment = _appointment(notification)
    local = timezone.localtime(appointment.start, notification.clinic.tz)
    return appointment, {
        # Text messages: 24-hour time, as "9 a.m." would end a sentence with a doubled
        # full stop; and as short as can be.
        "when": f"{formats.date_format(local, 'DATE_FORMAT')}, {local:%H:%M}",
        # Emails: the language's own date and time, as the pages show them ("9:15 a.m.").
        "when_local": formats.date_format(local, "DATETIME_FORMAT"),
        "day": formats.date_format(local, "DATE_FORMAT"),
        "time": formats.time_format(local, "TIME_FORMAT"),
        "provider_name": appointment.provider.name,
        "type_name": appointment.appointment_type.name,
        "clinic_address": notification.clinic.address,
    }


@register("appointment_booked", label=_("Appointment booked"))
def booked_context(notification):
    appointment, context = _when(notification)
    if appointment.status == Appointment.Status.CANCELLED:
        # Its cancellation notice follows; an invitation now would put it back.
        raise Obsolete("the appointment was cancelled")
    return context


@register("appointment_cancelled", label=_("Appointment cancelled"))
def cancelled_context(notification):
    return _when(notification)[1]


@register("appointment_reminder", label=_("Appointment reminder"))
def reminder_context(notification):
    appointment, context = _when(notification)
    if appointment.status != Appointment.Status.BOOKED:
        raise Obsolete("the appointment is no longer booked")
    return context


@register_attachments("appointment_booked")
@register_attachments("appointment_cancelled")
@register_attachments("appointment_reminder")
def calendar_file(notification):
    """The visit's .ics, built now from its id: the row stores nothing of it."""
    appointment = _appointment(notification)
    return [
        Attachment(
            filename=FILENAME,
            content=appointment_calendar(appointment, attendee=notification.recipient),
            mimetype=MIMETYPE,
            params=(("method", calendar_method(appointment)),),
        )
    ]
