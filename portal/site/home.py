"""The three figures on a patient's home page, kept in the shared cache per chart.

Unread messages, requests waiting for the clinic and the next visit cost three queries on
every visit to the home page, the page patients open most. They change only when a
message, an appointment or a change request of that chart is written, so they are kept
under ``clinic:<id>:home:<patient id>`` and dropped on every such write:

- ``post_save`` / ``post_delete`` of a message, an appointment or a change request (this
  covers cascades and the admin), and ``rows_updated`` from their querysets' bulk updates
  (messages marked read, visits marked completed or missed, requests closed with their
  verification), connected in ``SiteConfig.ready`` so that writes in web processes,
  Celery workers and management commands all count. The apps that own these rows know
  nothing of this cache.

The entry is invalidated at once and again when the transaction commits, and a reader
that filled it from the old rows before the commit cannot store them as current
(``portal.core.cache.read_through``). The next visit is re-read as
soon as it is over, and every entry expires after ``TIMEOUT`` seconds whatever happens.
The figures are counts and one start time of the chart's own rows; access scopes are
applied by the page, not here.
"""

from dataclasses import dataclass

from django.utils import timezone

from appointments.models import Appointment
from appointments.selectors import upcoming_and_past
from messaging.models import Message, Thread
from messaging.selectors import unread_count_for_patient
from patients.models import ChangeRequest
from portal.core.cache import (
    clinic_cache_key,
    drop_now_and_at_commit,
    drop_on_update,
    drop_on_write,
    read_through,
)

TIMEOUT = 300
VERSION = "1"  # of HomeSummary: change it when its fields change


@dataclass(frozen=True)
class HomeSummary:
    unread_messages: int
    pending_requests: int
    next_start: object  # aware datetime, or None
    next_end: object


def _read(*, clinic, patient, now) -> HomeSummary:
    upcoming, _past = upcoming_and_past(clinic=clinic, patient=patient, now=now)
    next_visit = upcoming.values_list("start", "end").first()  # upcoming is by start
    return HomeSummary(
        unread_messages=unread_count_for_patient(clinic=clinic, patient=patient),
        pending_requests=ChangeRequest.objects.for_clinic(clinic)
        .filter(patient=patient, status=ChangeRequest.Status.PENDING)
        .count(),
        next_start=next_visit[0] if next_visit else None,
        next_end=next_visit[1] if next_visit else None,
    )


def _key(clinic_id, patient_id):
    return clinic_cache_key(clinic_id, "home", patient_id)


def home_summary(*, clinic, patient, now=None) -> HomeSummary:
    now = now or timezone.now()

    def load():
        return _read(clinic=clinic, patient=patient, now=now)

    summary = read_through(_key(clinic.pk, patient.pk), load, timeout=TIMEOUT, tag=VERSION)
    if summary.next_end is not None and summary.next_end <= now:
        # The next visit is over: nothing was written, but the figure has moved on.
        forget_home_summary(clinic_id=clinic.pk, patient_id=patient.pk)
        summary = read_through(_key(clinic.pk, patient.pk), load, timeout=TIMEOUT, tag=VERSION)
    return summary


def forget_home_summary(*, clinic_id, patient_id):
    """Invalidate the chart's home figures now and again at commit."""
    drop_now_and_at_commit([_key(clinic_id, patient_id)])


def _forget_for(instance, patient_id):
    if instance.clinic_id is not None and patient_id is not None:
        forget_home_summary(clinic_id=instance.clinic_id, patient_id=patient_id)


def _forget_for_row(sender, instance, **kwargs):
    _forget_for(instance, instance.patient_id)


def _forget_for_message(sender, instance, **kwargs):
    if sender._meta.get_field("thread").is_cached(instance):
        patient_id = instance.thread.patient_id
    else:
        threads = Thread.objects.for_clinic(instance.clinic_id).filter(pk=instance.thread_id)
        patient_id = threads.values_list("patient_id", flat=True).first()
    _forget_for(instance, patient_id)


def _forget_for_rows(sender, rows, **kwargs):
    for row in rows:
        patient_id = row.get("patient_id", row.get("thread__patient_id"))
        if row["clinic_id"] is not None and patient_id is not None:
            forget_home_summary(clinic_id=row["clinic_id"], patient_id=patient_id)


def connect_receivers():
    drop_on_write(_forget_for_row, Appointment, ChangeRequest, uid="home")
    drop_on_write(_forget_for_message, Message, uid="home")
    drop_on_update(_forget_for_rows, Appointment, ChangeRequest, Message, uid="home")
