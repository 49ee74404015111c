"""Booking, cancelling and reminding. Every rule lives here; views, the admin and the
periodic task all call these."""

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from appointments.models import Appointment
from appointments.selectors import free_slots
from clinics.models import Clinic
from patients.contacts import notice_recipients
from patients.models import Patient
from portal.audit.services import audit_record
from portal.notifications.services import notify


class SlotTaken(Exception):  # noqa: N818 - what the person is told
    """Someone else booked that time first."""


class NotAllowed(Exception):  # noqa: N818
    """The clinic's rules refuse this (the message says which)."""


def _notify_patient(appointment, template):
    for recipient in notice_recipients(appointment.patient, scope="appointments"):
        notify(
            clinic=appointment.clinic,
            channel=recipient.channel,
            recipient=recipient.address,
            template=template,
            context={"appointment_id": appointment.pk},
            language=recipient.language,
        )


def check_patient_may_book(patient: Patient):
    policy = patient.clinic.portal_settings
    if not policy.booking_allowed:
        raise NotAllowed("booking_disabled")
    if patient.status == Patient.Status.PENDING and not policy.pending_patients_may_book:
        raise NotAllowed("pending")


def appointment_book(
    *,
    patient,
    provider,
    appointment_type,
    start,
    reason="",
    booked_by,
    request=None,
    by_staff=False,
) -> Appointment:
    """Book one appointment; the loser of a race gets SlotTaken, never a database error.

    Portal bookings must be an offered slot under the clinic's rules; staff may book any
    time that does not overlap. On PostgreSQL the exclusion constraint decides races; on
    SQLite the transaction is serialised, so the overlap check inside it decides.
    """
    clinic = patient.clinic
    end = start + dt.timedelta(minutes=appointment_type.duration_minutes)
    if not by_staff:
        check_patient_may_book(patient)
        if not (appointment_type.bookable_online and provider.bookable_online):
            raise NotAllowed("not_online")
        local_day = timezone.localtime(start, clinic.tz).date()
        offered = free_slots(
            provider=provider, appointment_type=appointment_type, start_date=local_day, days=1
        ).get(local_day, [])
        if start not in offered:
            if (
                Appointment.objects.active()
                .filter(provider=provider, start__lt=end, end__gt=start)
                .exists()
            ):
                raise SlotTaken
            raise NotAllowed("not_offered")
    try:
        with transaction.atomic():
            if (
                Appointment.objects.active()
                .filter(provider=provider, start__lt=end, end__gt=start)
                .exists()
            ):
                raise SlotTaken
            appointment = Appointment.objects.create(
                clinic=clinic,
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                start=start,
                end=end,
                reason=reason,
                booked_by=booked_by,
            )
            _notify_patient(appointment, "appointment_booked")
            audit_record(
                action="appointment.booked",
                request=request,
                clinic=clinic,
                actor=booked_by,
                obj=appointment,
                acting_for=patient,
            )
    except IntegrityError as exc:
        raise SlotTaken from exc
    return appointment


def check_patient_may_cancel(appointment: Appointment, now=None):
    policy = appointment.clinic.portal_settings
    now = now or timezone.now()
    if not policy.cancelling_allowed:
        raise NotAllowed("cancelling_disabled")
    if appointment.status != Appointment.Status.BOOKED:
        raise NotAllowed("not_booked")
    if now > appointment.start - dt.timedelta(hours=policy.cancel_cutoff_hours):
        raise NotAllowed("past_cutoff")


def appointment_cancel(*, appointment, cancelled_by, request=None, by_staff=False) -> bool:
    """Cancel a booked appointment (portal: within the clinic's rules). Idempotent."""
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update()
            .select_related("clinic", "patient")
            .get(pk=appointment.pk)
        )
        if appointment.status != Appointment.Status.BOOKED:
            return False
        if not by_staff:
            check_patient_may_cancel(appointment)
        appointment.status = Appointment.Status.CANCELLED
        appointment.cancelled_by = cancelled_by
        appointment.cancelled_at = timezone.now()
        appointment.save(update_fields=["status", "cancelled_by", "cancelled_at"])
        _notify_patient(appointment, "appointment_cancelled")
        audit_record(
            action="appointment.cancelled",
            request=request,
            clinic=appointment.clinic,
            actor=cancelled_by,
            obj=appointment,
            acting_for=appointment.patient,
        )
    return True


def appointment_mark(*, appointment, status, marked_by, request=None) -> bool:
    """Staff record the outcome: completed or no-show."""
    if status not in (Appointment.Status.COMPLETED, Appointment.Status.NO_SHOW):
        raise ValueError(status)
    updated = Appointment.objects.filter(
        pk=appointment.pk, status=Appointment.Status.BOOKED
    ).update(status=status)
    if updated:
        audit_record(
            action=f"appointment.{status}",
            request=request,
            clinic=appointment.clinic,
            actor=marked_by,
            obj=appointment,
            acting_for=appointment.patient,
        )
    return bool(updated)


def appointment_reminders_send(*, now=None) -> int:
    """Remind every booked appointment that starts tomorrow (clinic local date).

    Safe to run any number of times: each appointment is claimed by setting
    ``reminder_sent_at`` only where it is still empty, so one reminder per appointment.
    """
    now = now or timezone.now()
    sent = 0
    for clinic in Clinic.objects.filter(is_active=True):
        tomorrow = timezone.localtime(now, clinic.tz).date() + dt.timedelta(days=1)
        day_start = dt.datetime.combine(tomorrow, dt.time.min).replace(tzinfo=clinic.tz)
        day_end = dt.datetime.combine(tomorrow + dt.timedelta(days=1), dt.time.min).replace(
            tzinfo=clinic.tz
        )
        due = (
            Appointment.objects.for_clinic(clinic)
            .filter(
                status=Appointment.Status.BOOKED,
                reminder_sent_at__isnull=True,
                start__gte=day_start,
                start__lt=day_end,
            )
            .select_related("patient", "clinic")
        )
        for appointment in due:
            with transaction.atomic():
                claimed = Appointment.objects.filter(
                    pk=appointment.pk, reminder_sent_at__isnull=True
                ).update(reminder_sent_at=now)
                if claimed:
                    _notify_patient(appointment, "appointment_reminder")
                    sent += 1
    return sent
