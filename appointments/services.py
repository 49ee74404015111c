"""Booking, cancelling and reminding. Every rule lives here; views, the admin and the
periodic task all call these."""

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from appointments.models import (
    Appointment,
    AppointmentRequest,
    AppointmentType,
    CalendarFeed,
    FreedSlot,
    Provider,
)
from appointments.selectors import on_schedule, open_request_count, overlapping, upcoming_count
from appointments.signals import time_freed
from clinics.models import Clinic
from patients.contacts import notice_recipients
from patients.models import Patient
from portal.audit.services import audit_record
from portal.core.tokens import new_link_token, token_digest
from portal.notifications.services import DailyLimit, notify

# Rules staff may book over, one by one, on purpose (``override``); each is audited.
SLOT_TAKEN = "slot_taken"  # the provider has another visit then
PATIENT_OVERLAP = "patient_overlap"  # the patient has another visit then, with anyone
NOT_OFFERED = "not_offered"  # outside the provider's hours or off their grid
OUTSIDE_WINDOW = "outside_window"  # further ahead than the clinic's booking window
VISIT_LIMIT = "visit_limit"  # the patient already holds the clinic's limit of visits
OVERRIDABLE = (SLOT_TAKEN, PATIENT_OVERLAP, NOT_OFFERED, OUTSIDE_WINDOW, VISIT_LIMIT)


class NotAllowed(Exception):  # noqa: N818 - what the person is told
    """The clinic's rules refuse this. ``str(refusal)`` is the rule's code (the pages
    word it); ``conflicts`` lists every rule staff could book over that this booking
    meets, so the admin names them all at once."""

    def __init__(self, rule="", conflicts=()):
        super().__init__(rule)
        self.rule = rule
        self.conflicts = tuple(conflicts)


class SlotTaken(NotAllowed):
    """The provider already has a visit then (someone else booked that time first)."""

    def __init__(self, conflicts=()):
        super().__init__(SLOT_TAKEN, conflicts)


@dataclass(frozen=True)
class Conflict:
    """One rule a booking meets; ``appointment`` is the visit it clashes with, if any."""

    rule: str
    appointment: Appointment | None = None


def _notify_patient(appointment, template):
    """Tell the patient (and whoever acts for them). Text messages about one patient's
    appointments stop for the day at the clinic's limit; emails always go."""
    per_day = appointment.clinic.portal_settings.sms_notices_per_patient_per_day
    texts = DailyLimit(key=f"appointments:patient:{appointment.patient_id}", per_day=per_day)
    for recipient in notice_recipients(appointment.patient, scope="appointments"):
        notify(
            clinic=appointment.clinic,
            channel=recipient.channel,
            recipient=recipient.address,
            template=template,
            context={"appointment_id": appointment.pk},
            language=recipient.language,
            daily_limit=texts if recipient.channel == "sms" else None,
        )


def check_patient_may_book(patient: Patient):
    policy = patient.clinic.portal_settings
    if policy.appointment_requests:
        raise NotAllowed("requests_only")
    if not policy.booking_allowed:
        raise NotAllowed("booking_disabled")
    if patient.status == Patient.Status.PENDING and not policy.pending_patients_may_book:
        raise NotAllowed("pending")


def booking_check(
    *,
    patient: Patient,
    provider: Provider,
    appointment_type: AppointmentType,
    start: dt.datetime,
    by_staff: bool = False,
    override=(),
    now: dt.datetime | None = None,
) -> list[Conflict]:
    """Every rule a booking must meet, for every caller. Raises NotAllowed (SlotTaken
    when the provider is busy) for the first rule broken; returns the conflicts staff
    chose to book over (``override``: rule codes from OVERRIDABLE, staff only).

    Never overridden: a provider or type that is inactive, a type the provider does not
    offer, a time that has passed; in the portal also the clinic's booking switches.
    Read-only: ``appointment_book`` runs it again inside its transaction, under a lock.
    """
    override = frozenset(override)
    if override and not by_staff:
        raise ValueError("only staff may book over a rule")
    if not override <= set(OVERRIDABLE):
        raise ValueError(f"not a rule staff may book over: {sorted(override)}")
    clinic = patient.clinic
    if provider.clinic_id != clinic.pk or appointment_type.clinic_id != clinic.pk:
        raise NotAllowed("type_not_offered")
    if not by_staff:
        check_patient_may_book(patient)
    if not provider.is_active:
        raise NotAllowed("provider_inactive")
    if not appointment_type.is_active:
        raise NotAllowed("type_inactive")
    if not provider.appointment_types.filter(pk=appointment_type.pk).exists():
        raise NotAllowed("type_not_offered")
    if not by_staff and not (appointment_type.bookable_online and provider.bookable_online):
        raise NotAllowed("not_online")
    now = now or timezone.now()
    if start <= now:
        raise NotAllowed("in_the_past")
    end = start + dt.timedelta(minutes=appointment_type.duration_minutes)
    policy = clinic.portal_settings
    found = []
    taken = overlapping(clinic=clinic, provider=provider, start=start, end=end)
    if taken:
        found.append(Conflict(SLOT_TAKEN, taken))
    if not on_schedule(provider=provider, appointment_type=appointment_type, start=start):
        found.append(Conflict(NOT_OFFERED))
    if start > now + dt.timedelta(days=policy.booking_window_days):
        found.append(Conflict(OUTSIDE_WINDOW))
    mine = overlapping(clinic=clinic, patient=patient, start=start, end=end)
    if mine:
        found.append(Conflict(PATIENT_OVERLAP, mine))
    if upcoming_count(clinic=clinic, patient=patient, now=now) >= policy.max_upcoming_appointments:
        found.append(Conflict(VISIT_LIMIT))
    unresolved = [c for c in found if c.rule not in override]
    if unresolved:
        if unresolved[0].rule == SLOT_TAKEN:
            raise SlotTaken(unresolved)
        raise NotAllowed(unresolved[0].rule, unresolved)
    return found


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
    override=(),
) -> Appointment:
    """Book one appointment under ``booking_check``'s rules, for the portal, the admin
    and any task alike; a refusal is NotAllowed (SlotTaken when the provider is busy,
    also for the loser of a race), never a database error.

    Staff may book over the rules named in ``override``; each one actually booked over
    is written to the audit log ("appointment.booked_over_rule", naming the rules).

    Races: the patient's row is locked first, so one patient's bookings run one at a
    time and the checks of their overlapping visits and of the clinic's visit limit
    (a count, which no constraint can hold) see every committed booking. A provider's
    visits are kept apart by the exclusion constraint on PostgreSQL (migration 0005);
    on SQLite the write transaction is serialised, so the checks inside it decide.
    """
    clinic = patient.clinic
    end = start + dt.timedelta(minutes=appointment_type.duration_minutes)
    try:
        with transaction.atomic():
            # Lock before checking: the checks must see the patient's other bookings.
            list(Patient.objects.for_clinic(clinic).select_for_update().filter(pk=patient.pk))
            overridden = booking_check(
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                start=start,
                by_staff=by_staff,
                override=override,
            )
            rules = sorted({conflict.rule for conflict in overridden})
            appointment = Appointment.objects.create(
                clinic=clinic,
                patient=patient,
                provider=provider,
                appointment_type=appointment_type,
                start=start,
                end=end,
                reason=reason,
                booked_by=booked_by,
                conflict_override=bool({SLOT_TAKEN, PATIENT_OVERLAP} & set(rules)),
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
            if rules:
                audit_record(
                    action="appointment.booked_over_rule",
                    request=request,
                    clinic=clinic,
                    actor=booked_by,
                    obj=appointment,
                    acting_for=patient,
                    details={"rules": rules},
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
    """Cancel a booked appointment (portal: within the clinic's rules). Idempotent.

    Whoever cancels (portal, admin, task, API), a visit still ahead frees its time: when
    the clinic offers freed times, the time is recorded and offered after commit to the
    patients waiting for an earlier visit (``appointments.offers``)."""
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
        appointment.calendar_sequence += 1
        appointment.save(
            update_fields=["status", "cancelled_by", "cancelled_at", "calendar_sequence"]
        )
        _notify_patient(appointment, "appointment_cancelled")
        audit_record(
            action="appointment.cancelled",
            request=request,
            clinic=appointment.clinic,
            actor=cancelled_by,
            obj=appointment,
            acting_for=appointment.patient,
        )
        _time_freed(appointment, now=appointment.cancelled_at)
    return True


def _time_freed(appointment: Appointment, *, now) -> FreedSlot | None:
    """Record the time a cancellation gave back, to be offered after commit."""
    if not appointment.clinic.portal_settings.earlier_offers_enabled or appointment.start <= now:
        return None
    slot = FreedSlot.objects.create(
        clinic=appointment.clinic,
        provider_id=appointment.provider_id,
        appointment_type_id=appointment.appointment_type_id,
        start=appointment.start,
        end=appointment.end,
        cancelled_visit=appointment,
    )
    time_freed.send(sender=FreedSlot, slot=slot)
    return slot


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


# --- Appointment requests (the clinic's portal takes requests instead of bookings) ------

# Requests one chart may have waiting at once: enough for a family's usual needs, few
# enough that the front desk's queue cannot be flooded from one account.
MAX_OPEN_REQUESTS = 3


def check_patient_may_request(patient: Patient):
    """The clinic takes requests in the portal and the patient may use them (a chart
    pending verification only where pending patients may book)."""
    policy = patient.clinic.portal_settings
    if not policy.appointment_requests:
        raise NotAllowed("requests_disabled")
    if patient.status == Patient.Status.PENDING and not policy.pending_patients_may_book:
        raise NotAllowed("pending")


def appointment_request_create(
    *,
    patient: Patient,
    requested_by,
    appointment_type: AppointmentType,
    provider: Provider | None = None,
    days=(),
    times=(),
    note: str = "",
    request=None,
) -> AppointmentRequest:
    """A patient's (or their representative's) request for a visit, under the clinic's
    rules, whoever posts it: requests switched on, a type patients may choose online, a
    provider (or any) offering it online, known day and time choices, a short note, and
    at most MAX_OPEN_REQUESTS waiting per chart (counted under a lock on the chart, so
    two posts at once cannot both take the last place). Audited."""
    clinic = patient.clinic
    check_patient_may_request(patient)
    if (
        appointment_type.clinic_id != clinic.pk
        or not appointment_type.is_active
        or not appointment_type.bookable_online
    ):
        raise NotAllowed("not_online")
    if provider is not None:
        if provider.clinic_id != clinic.pk:
            raise NotAllowed("type_not_offered")
        if not (provider.is_active and provider.bookable_online):
            raise NotAllowed("provider_inactive")
        if not provider.appointment_types.filter(pk=appointment_type.pk).exists():
            raise NotAllowed("type_not_offered")
    days, times = list(dict.fromkeys(days)), list(dict.fromkeys(times))
    if not set(days) <= set(AppointmentRequest.Day.values) or not set(times) <= set(
        AppointmentRequest.Time.values
    ):
        raise NotAllowed("bad_preferences")
    note = (note or "").strip()
    if len(note) > AppointmentRequest.NOTE_MAX_LENGTH:
        raise NotAllowed("note_too_long")
    with transaction.atomic():
        list(Patient.objects.for_clinic(clinic).select_for_update().filter(pk=patient.pk))
        if open_request_count(clinic=clinic, patient=patient) >= MAX_OPEN_REQUESTS:
            raise NotAllowed("request_limit")
        appointment_request = AppointmentRequest.objects.create(
            clinic=clinic,
            patient=patient,
            requested_by=requested_by,
            appointment_type=appointment_type,
            provider=provider,
            preferred_days=days,
            preferred_times=times,
            note=note,
        )
        audit_record(
            action="appointment_request.created",
            request=request,
            clinic=clinic,
            actor=requested_by,
            obj=appointment_request,
            acting_for=patient,
        )
    return appointment_request


def _locked_pending(appointment_request: AppointmentRequest) -> AppointmentRequest:
    locked = (
        AppointmentRequest.objects.for_clinic(appointment_request.clinic)
        .select_for_update()
        .select_related("clinic", "patient")
        .get(pk=appointment_request.pk)
    )
    if locked.status != AppointmentRequest.Status.PENDING:
        raise NotAllowed("request_answered")
    return locked


def appointment_request_withdraw(
    *, appointment_request: AppointmentRequest, withdrawn_by, request=None
) -> AppointmentRequest:
    """The patient (or their representative) takes back a request still waiting; one
    already answered cannot be withdrawn (NotAllowed "request_answered"). Audited."""
    with transaction.atomic():
        locked = _locked_pending(appointment_request)
        locked.status = AppointmentRequest.Status.WITHDRAWN
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_at"])
        audit_record(
            action="appointment_request.withdrawn",
            request=request,
            clinic=locked.clinic,
            actor=withdrawn_by,
            obj=locked,
            acting_for=locked.patient,
        )
    return locked


def appointment_request_confirm(
    *,
    appointment_request: AppointmentRequest,
    provider: Provider,
    start: dt.datetime,
    decided_by,
    request=None,
    override=(),
) -> Appointment:
    """Staff answer a waiting request with a real time: the visit is booked through
    ``appointment_book`` as any staff booking (its rules, ``override`` as there), the
    patient gets the usual confirmation with its calendar file, and the request points
    at the visit. All or nothing: a refused booking leaves the request waiting."""
    with transaction.atomic():
        locked = _locked_pending(appointment_request)
        appointment = appointment_book(
            patient=locked.patient,
            provider=provider,
            appointment_type=locked.appointment_type,
            start=start,
            booked_by=decided_by,
            request=request,
            by_staff=True,
            override=override,
        )
        locked.status = AppointmentRequest.Status.CONFIRMED
        locked.appointment = appointment
        locked.decided_by = decided_by
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "appointment", "decided_by", "decided_at"])
        audit_record(
            action="appointment_request.confirmed",
            request=request,
            clinic=locked.clinic,
            actor=decided_by,
            obj=locked,
            acting_for=locked.patient,
        )
    return appointment


def appointment_request_decline(
    *, appointment_request: AppointmentRequest, reason: str, decided_by, request=None
) -> AppointmentRequest:
    """Staff decline a waiting request with a reason the patient reads in the portal.
    The notice only says the clinic answered (no reason, no visit type). Audited."""
    reason = (reason or "").strip()
    if not reason:
        raise NotAllowed("reason_required")
    if len(reason) > AppointmentRequest.REASON_MAX_LENGTH:
        raise NotAllowed("reason_too_long")
    with transaction.atomic():
        locked = _locked_pending(appointment_request)
        locked.status = AppointmentRequest.Status.DECLINED
        locked.decline_reason = reason
        locked.decided_by = decided_by
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decline_reason", "decided_by", "decided_at"])
        for recipient in notice_recipients(locked.patient, scope="appointments"):
            notify(
                clinic=locked.clinic,
                channel=recipient.channel,
                recipient=recipient.address,
                template="appointment_request_declined",
                context={"appointment_request_id": locked.pk},
                language=recipient.language,
            )
        audit_record(
            action="appointment_request.declined",
            request=request,
            clinic=locked.clinic,
            actor=decided_by,
            obj=locked,
            acting_for=locked.patient,
        )
    return locked


# --- Private calendar feeds ------------------------------------------------------------


def calendar_feed_reset(*, clinic: Clinic, user, request=None) -> str:
    """A new private feed address for the account; returns the token (shown once, never
    stored: only its digest is). Any earlier address stops working at once. Audited."""
    if user.clinic_id != clinic.pk:
        raise ValueError("the account belongs to another clinic")
    token = new_link_token()
    with transaction.atomic():
        feed, created = CalendarFeed.objects.update_or_create(
            user=user,
            defaults={
                "clinic": clinic,
                "token_hash": token_digest(token),
                "created_at": timezone.now(),
            },
        )
        audit_record(
            action="calendar_feed.created" if created else "calendar_feed.reset",
            request=request,
            clinic=clinic,
            actor=user,
            obj=feed,
        )
    return token


def calendar_feed_stop(*, clinic: Clinic, user, request=None) -> bool:
    """The account's feed address stops working; nothing replaces it. Audited."""
    deleted, _rows = CalendarFeed.objects.for_clinic(clinic).filter(user=user).delete()
    if deleted:
        audit_record(action="calendar_feed.stopped", request=request, clinic=clinic, actor=user)
    return bool(deleted)
