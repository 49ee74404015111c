"""The appointments app's queue on the front desk's work screen (``clinics.workboard``)."""

import datetime

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from appointments.models import Appointment, AppointmentRequest
from clinics import workboard


def todays_appointments(*, clinic, now):
    """Today's booked visits, today being the clinic's (its time zone is the active one
    on its admin). No age: they are not waiting."""
    today = timezone.localdate(now)
    start = timezone.make_aware(datetime.datetime.combine(today, datetime.time.min))
    visits = Appointment.objects.for_clinic(clinic).filter(
        status=Appointment.Status.BOOKED,
        start__gte=start,
        start__lt=start + datetime.timedelta(days=1),
    )
    return workboard.Tally(workboard.tally(visits).count)


def appointment_requests(*, clinic, now):
    """Requests waiting for the front desk to book a time or decline, since the oldest."""
    waiting = AppointmentRequest.objects.for_clinic(clinic).pending()
    return workboard.tally(waiting, since="created_at")


def register_items():
    workboard.register(
        "appointments.requests",
        order=35,
        label=_("Appointment requests"),
        loader=appointment_requests,
        url="admin:appointments_appointmentrequest_changelist",
        permission="appointments.view_appointmentrequest",
    )
    workboard.register(
        "appointments.today",
        order=40,
        label=_("Today's appointments"),
        loader=todays_appointments,
        url="admin:appointments_appointment_changelist?day=today&status__exact=booked",
        permission="appointments.view_appointment",
    )
