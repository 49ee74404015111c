"""Appointment notices. Emails name the clinic, its address, the date and time, the
provider and the type of appointment, and carry the visit's calendar file; text messages
name only the clinic, the date and the time. Never the reason for the visit or the
provider's speciality."""

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from appointments.calendar import FILENAME, MIMETYPE, appointment_calendar, calendar_method
from appointments.models import Appointment, AppointmentRequest, SlotOffer
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
        # Text messages: the day and the time, as the pages write them.
        "when": (
            f"{formats.date_format(local, 'DATE_FORMAT')}, "
            f"{formats.time_format(local, 'TIME_FORMAT')}"
        ),
        # Emails: the language's own date and time, as the pages show them ("9:15 AM").
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


@register("appointment_offer")
def offer_context(notification):
    """An earlier time is free: the message says only that, with the link (made now;
    the time, provider and type are shown on the page, to the signed-in patient)."""
    offer = (
        SlotOffer.objects.for_clinic(notification.clinic)
        .select_related("freed_slot__booked_visit", "appointment")
        .filter(pk=notification.context["offer_id"])
        .first()
    )
    if offer is None or offer.state() != SlotOffer.State.VALID:
        raise Obsolete("the offer is no longer open")
    path = reverse(
        "portal:appointments-offer-link",
        kwargs={"token": offer.issue_token()},
        urlconf=settings.ROOT_URLCONF,
    )
    local = timezone.localtime(offer.expires_at, notification.clinic.tz)
    return {
        "link": notification.clinic.build_url(path),
        "until": formats.date_format(local, "SHORT_DATETIME_FORMAT"),
    }


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


@register("appointment_request_declined")
def request_declined_context(notification):
    """Only that the clinic answered: the reason and the type of visit stay in the
    portal, behind sign-in."""
    exists = (
        AppointmentRequest.objects.for_clinic(notification.clinic)
        .filter(pk=notification.context["appointment_request_id"])
        .exists()
    )
    if not exists:
        raise Obsolete("the request is gone")
    return {}
