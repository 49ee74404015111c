"""Earlier-time offers: a patient with a visit ahead asks to be offered an earlier time;
when another visit with the same provider and of the same type is cancelled, its time
is offered to those patients by a single-use link, a few at a time.

Who is offered first (the fair order): patients whose visit is later than the freed
time, by when they asked for earlier times (who asked first is offered first), then by
when the visit was booked (its id). One link per person told (the patient, and whoever
acts for them with the appointments scope, by the patient's notice preference). If
nobody accepts within the clinic's validity window, the next batch is offered the time
(``freed_times_advance``, every few minutes); a time nobody takes, or whose start comes,
is closed. The first to accept gets the time: the freed time's row is locked, so exactly
one acceptance wins; their later visit is cancelled through ``appointment_cancel`` (which
may free that time in turn) and the new one booked through ``appointment_book``, under
every booking rule, in one transaction.
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from appointments.models import Appointment, FreedSlot, SlotOffer
from appointments.services import (
    NotAllowed,
    SlotTaken,
    appointment_book,
    appointment_cancel,
)
from patients.contacts import notice_recipients
from portal.audit.services import audit_record
from portal.core.tokens import token_digest
from portal.notifications.services import DailyLimit, notify

State = SlotOffer.State


class OfferUnusable(Exception):  # noqa: N818 - what the person is told
    """The offer cannot be accepted; ``state`` is a ``SlotOffer.State`` (e.g. TAKEN)."""

    def __init__(self, state):
        super().__init__(state)
        self.state = state


def appointment_earlier_offers_set(
    *, appointment: Appointment, wanted: bool, changed_by, request=None, now=None
) -> bool:
    """Ask (``wanted``) or stop asking to be offered an earlier time for a visit.

    Only for a booked visit still ahead, while the clinic offers freed times (else
    NotAllowed: "offers_disabled", "not_booked"). Asking again keeps the first request's
    place in the queue. Returns whether anything changed; audited when it did."""
    now = now or timezone.now()
    if not appointment.clinic.portal_settings.earlier_offers_enabled:
        raise NotAllowed("offers_disabled")
    with transaction.atomic():
        appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if appointment.status != Appointment.Status.BOOKED or appointment.start <= now:
            raise NotAllowed("not_booked")
        if wanted == (appointment.earlier_offers_since is not None):
            return False
        appointment.earlier_offers_since = now if wanted else None
        appointment.save(update_fields=["earlier_offers_since"])
        audit_record(
            action="appointment.earlier_offers_on" if wanted else "appointment.earlier_offers_off",
            request=request,
            clinic=appointment.clinic,
            actor=changed_by,
            obj=appointment,
            acting_for=appointment.patient,
        )
    return True


def _candidates(slot: FreedSlot):
    """Visits whose patients may be offered ``slot``, in the fair order."""
    offered = SlotOffer.objects.filter(freed_slot=slot).values("patient_id")
    return (
        Appointment.objects.for_clinic(slot.clinic_id)
        .filter(
            status=Appointment.Status.BOOKED,
            provider_id=slot.provider_id,
            appointment_type_id=slot.appointment_type_id,
            start__gt=slot.start,
            earlier_offers_since__isnull=False,
        )
        .exclude(patient_id__in=offered)
        .select_related("patient", "clinic")
        .order_by("earlier_offers_since", "pk")
    )


def _close(slot: FreedSlot, now) -> None:
    slot.status = FreedSlot.Status.CLOSED
    slot.closed_at = now
    slot.batch_ends_at = None
    slot.save(update_fields=["status", "closed_at", "batch_ends_at"])


def freed_time_offer(*, freed_slot_id: int, clinic_id: int, now=None) -> int:
    """Offer a freed time to the next batch of patients; returns how many were offered.

    Idempotent and safe to run concurrently: the freed time's row is locked, and a batch
    whose offers are still open is left alone. Closes the time when the clinic stopped
    offering, its start is near, or nobody is left to offer it to."""
    now = now or timezone.now()
    with transaction.atomic():
        slot = (
            FreedSlot.objects.for_clinic(clinic_id)
            .select_for_update()
            .select_related("clinic")
            .filter(pk=freed_slot_id)
            .first()
        )
        if slot is None or slot.status != FreedSlot.Status.OPEN:
            return 0
        if slot.batch_ends_at is not None and slot.batch_ends_at > now:
            return 0
        policy = slot.clinic.portal_settings
        # Booked directly since (the booking page shows a freed time as free too); a
        # later visit that overlaps its end is one of those it may be offered to.
        booked_since = (
            Appointment.objects.for_clinic(slot.clinic)
            .active()
            .filter(provider_id=slot.provider_id, start__lte=slot.start, end__gt=slot.start)
            .exists()
        )
        if not policy.earlier_offers_enabled or slot.start <= now or booked_since:
            _close(slot, now)
            return 0
        expires_at = min(now + dt.timedelta(hours=policy.earlier_offers_validity_hours), slot.start)
        texts_per_day = policy.sms_notices_per_patient_per_day
        batch = slot.batches_sent + 1
        offered, seen = 0, set()
        for visit in _candidates(slot).iterator(chunk_size=50):
            if visit.patient_id in seen:
                continue
            seen.add(visit.patient_id)
            recipients = notice_recipients(visit.patient, scope="appointments")
            if not recipients:
                continue
            texts = DailyLimit(
                key=f"appointments:patient:{visit.patient_id}", per_day=texts_per_day
            )
            for recipient in recipients:
                offer = SlotOffer.objects.create(
                    clinic=slot.clinic,
                    freed_slot=slot,
                    appointment=visit,
                    patient=visit.patient,
                    batch=batch,
                    channel=recipient.channel,
                    created_at=now,
                    expires_at=expires_at,
                )
                notify(
                    clinic=slot.clinic,
                    channel=recipient.channel,
                    recipient=recipient.address,
                    template="appointment_offer",
                    context={"offer_id": offer.pk},
                    language=recipient.language,
                    daily_limit=texts if recipient.channel == "sms" else None,
                )
            audit_record(
                action="appointment.offer_sent",
                clinic=slot.clinic,
                obj=visit,
                acting_for=visit.patient,
                details={"freed_time": slot.pk, "batch": batch},
            )
            offered += 1
            if offered >= policy.earlier_offers_batch_size:
                break
        if not offered:
            _close(slot, now)
            return 0
        slot.batches_sent = batch
        slot.batch_ends_at = expires_at
        slot.save(update_fields=["batches_sent", "batch_ends_at"])
    return offered


def freed_times_due(*, now=None, limit: int = 200) -> list[tuple[int, int]]:
    """(freed time id, clinic id) of open times whose batch has lapsed, oldest first, at
    most ``limit`` (the periodic task's bound)."""
    now = now or timezone.now()
    return list(
        FreedSlot.objects.filter(status=FreedSlot.Status.OPEN, batch_ends_at__lte=now)
        .order_by("batch_ends_at", "pk")
        .values_list("pk", "clinic_id")[:limit]
    )


def freed_times_advance(*, now=None, limit: int = 200) -> int:
    """Offer each open time whose batch lapsed to its next batch (or close it). Bounded:
    at most ``limit`` times a run; the rest wait for the next run."""
    now = now or timezone.now()
    return sum(
        freed_time_offer(freed_slot_id=pk, clinic_id=clinic_id, now=now) > 0
        for pk, clinic_id in freed_times_due(now=now, limit=limit)
    )


def offer_for_token(*, clinic, token: str) -> SlotOffer | None:
    """The clinic's offer whose link carries ``token``, or None."""
    if not token:
        return None
    return (
        SlotOffer.objects.for_clinic(clinic)
        .select_related(
            "freed_slot__provider",
            "freed_slot__appointment_type",
            "freed_slot__booked_visit",
            "appointment__provider",
            "appointment__appointment_type",
            "patient",
        )
        .filter(token_hash=token_digest(token))
        .first()
    )


def slot_offer_accept(*, offer: SlotOffer, accepted_by, request=None) -> Appointment:
    """Take the offered time in place of the patient's later visit; returns the new visit.

    Exactly one acceptance of a freed time wins: its row is locked first, and the others
    then find it taken (OfferUnusable(TAKEN)). Raises OfferUnusable for a link no longer
    valid, and NotAllowed when a booking rule refuses the time (the later visit stays).
    The later visit is cancelled before the new one is booked, in the same transaction,
    so the booking's checks of the patient's own visits (overlap, how many ahead) allow
    the visit being replaced. Audited as "appointment.offer_accepted".
    """
    clinic = offer.clinic
    try:
        with transaction.atomic():
            slot = (
                FreedSlot.objects.for_clinic(clinic).select_for_update().get(pk=offer.freed_slot_id)
            )
            offer = (
                SlotOffer.objects.for_clinic(clinic)
                .select_related("appointment", "patient", "freed_slot__booked_visit")
                .get(pk=offer.pk)
            )
            state = offer.state()
            if state != State.VALID:
                raise OfferUnusable(state)
            now = timezone.now()
            later = offer.appointment
            # The clinic's offer replaces the visit: the portal's cancellation rules
            # (cutoff, switch) are for giving a time up, not for swapping it.
            if not appointment_cancel(
                appointment=later, cancelled_by=accepted_by, request=request, by_staff=True
            ):
                raise OfferUnusable(State.REVOKED)
            visit = appointment_book(
                patient=offer.patient,
                provider=slot.provider,
                appointment_type=slot.appointment_type,
                start=slot.start,
                reason=later.reason,
                booked_by=accepted_by,
                request=request,
            )
            slot.status = FreedSlot.Status.TAKEN
            slot.booked_visit = visit
            slot.closed_at = now
            slot.batch_ends_at = None
            slot.save(update_fields=["status", "booked_visit", "closed_at", "batch_ends_at"])
            offer.accepted_at = now
            offer.accepted_by = accepted_by
            offer.save(update_fields=["accepted_at", "accepted_by"])
            audit_record(
                action="appointment.offer_accepted",
                request=request,
                clinic=clinic,
                actor=accepted_by,
                obj=visit,
                acting_for=offer.patient,
                details={"replaced": later.pk},
            )
    except SlotTaken as taken:
        # Booked directly in the meantime (the booking page shows a freed time too).
        raise OfferUnusable(State.TAKEN) from taken
    return visit
