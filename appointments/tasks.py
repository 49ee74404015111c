from functools import partial

from celery import shared_task
from django.db import transaction

from appointments.offers import freed_time_offer, freed_times_advance
from appointments.services import appointment_reminders_send


@shared_task(ignore_result=True)
def send_appointment_reminders():
    """Hourly: remind tomorrow's appointments (each one once, ever)."""
    return appointment_reminders_send()


@shared_task(ignore_result=True)
def offer_freed_time(freed_slot_id: int, clinic_id: int):
    """After a cancellation commits: offer its time to the first batch of patients."""
    return freed_time_offer(freed_slot_id=freed_slot_id, clinic_id=clinic_id)


@shared_task(ignore_result=True)
def advance_earlier_offers():
    """Every few minutes: offer times nobody took in time to the next batch (bounded)."""
    return freed_times_advance()


def offer_after_commit(sender, slot, **kwargs):
    """``time_freed`` receiver: the first batch is chosen once the cancellation commits."""
    transaction.on_commit(partial(offer_freed_time.delay, slot.pk, slot.clinic_id))
