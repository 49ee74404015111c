"""Appointment notices: the clinic, the date and the time. Never the reason for the
visit or the provider's speciality."""

from django.utils import formats, timezone

from appointments.models import Appointment
from portal.notifications.registry import Obsolete, register


def _when(notification):
    appointment = (
        Appointment.objects.for_clinic(notification.clinic)
        .filter(pk=notification.context["appointment_id"])
        .first()
    )
    if appointment is None:
        raise Obsolete("the appointment is gone")
    local = timezone.localtime(appointment.start, notification.clinic.tz)
    return appointment, {
        # 24-hour time: "9 a.m." would end a sentence with a doubled full stop.
        "when": f"{formats.date_format(local, 'DATE_FORMAT')}, {local:%H:%M}",
        "day": formats.date_format(local, "DATE_FORMAT"),
        "time": formats.time_format(local, "TIME_FORMAT"),
    }


@register("appointment_booked")
def booked_context(notification):
    return _when(notification)[1]


@register("appointment_cancelled")
def cancelled_context(notification):
    return _when(notification)[1]


@register("appointment_reminder")
def reminder_context(notification):
    appointment, context = _when(notification)
    if appointment.status != Appointment.Status.BOOKED:
        raise Obsolete("the appointment is no longer booked")
    return context
