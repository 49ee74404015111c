"""The patient's inbox list and conversations, rendered, kept in the shared cache.

Rendering (a row per thread, a card per message, dates and names in the reader's
language) is most of these pages' cost, and what they show changes only when one of the
chart's threads or messages is written (a message sent or read by either side, a thread
handled or moved), when an attachment is added or removed, or when the chart's name
changes. Entries are kept with the chart's version, under

    clinic:<id>:message-pages:<patient id>:<VERSION>:<page>:<variant>

(``page``: ``inbox`` or ``thread-<pk>``; ``variant``: language, time zone, page number,
the clinic's name as shown), and used only while the chart's version is the one they
were kept with (read with the entry in one round trip,
``portal.core.cache.versioned_entry``). Every save, delete or bulk update of those rows
gives the chart a new version, now and again when the transaction commits (a reader that
rendered old rows before the commit keeps them with a version no one reads any more).
Receivers are connected in ``MessagingConfig.ready``, so web processes, Celery workers
and management commands all count.

An entry is written only after the page's access check found the thread in the chart the
request acts for, and its key carries that chart: a hit never shows a thread outside it.
"""

from messaging.models import Attachment, Message, Thread
from patients.models import Patient
from portal.core.cache import (
    bump_versions,
    clinic_cache_key,
    drop_on_update,
    drop_on_write,
    keep_versioned,
    short_digest,
    versioned_entry,
)

TIMEOUT = 300
VERSION = "2"  # of the entries' shape and of the templates: change it when either changes


def _chart_key(clinic_id, patient_id):
    return clinic_cache_key(clinic_id, "message-pages", patient_id, "version")


def cached_page(*, clinic, patient, page: str, variant: tuple, render):
    """``render()``'s value for the chart's ``page`` and ``variant``, from the cache while
    none of the chart's messages changed. ``render`` returns ``(value, keep)``; a value
    with ``keep`` false (e.g. a conversation about to be marked read) is not stored."""
    key = clinic_cache_key(
        clinic.pk,
        "message-pages",
        patient.pk,
        VERSION,
        page,
        *variant,
        short_digest(clinic.public_name),
    )
    versions, entry = versioned_entry([_chart_key(clinic.pk, patient.pk)], key)
    if entry is not None:
        return entry
    value, keep = render()
    if keep:
        keep_versioned(key, versions, value, TIMEOUT)
    return value


def _thread_written(sender, instance, **kwargs):
    if instance.clinic_id is not None and instance.patient_id is not None:
        bump_versions([_chart_key(instance.clinic_id, instance.patient_id)])


def _threads_updated(sender, rows, **kwargs):
    bump_versions(
        _chart_key(row["clinic_id"], row["patient_id"])
        for row in rows
        if row["clinic_id"] is not None and row["patient_id"] is not None
    )


def _message_written(sender, instance, **kwargs):
    # The message's thread is read only when it is not already loaded.
    if Message.thread.is_cached(instance):
        row = {"clinic_id": instance.thread.clinic_id, "patient_id": instance.thread.patient_id}
    else:
        row = Thread.objects.filter(pk=instance.thread_id).values("clinic_id", "patient_id").first()
    if row:
        _threads_updated(sender, [row])


def _messages_updated(sender, rows, **kwargs):
    bump_versions(
        _chart_key(row["clinic_id"], row["thread__patient_id"])
        for row in rows
        if row["clinic_id"] is not None and row["thread__patient_id"] is not None
    )


def _attachment_written(sender, instance, **kwargs):
    row = (
        Thread.objects.filter(messages__pk=instance.message_id)
        .values("clinic_id", "patient_id")
        .first()
    )
    if row:
        _threads_updated(sender, [row])


def _chart_written(sender, instance, **kwargs):
    if instance.clinic_id is not None and instance.pk is not None:
        bump_versions([_chart_key(instance.clinic_id, instance.pk)])


def _charts_updated(sender, rows, **kwargs):
    # Bulk updates of charts report only their ids (rare: an admin action).
    charts = Patient.objects.filter(pk__in=[row["pk"] for row in rows]).values("pk", "clinic_id")
    bump_versions(_chart_key(row["clinic_id"], row["pk"]) for row in charts)


def connect_receivers():
    drop_on_write(_thread_written, Thread, uid="message-pages")
    drop_on_update(_threads_updated, Thread, uid="message-pages")
    drop_on_write(_message_written, Message, uid="message-pages")
    drop_on_update(_messages_updated, Message, uid="message-pages")
    drop_on_write(_attachment_written, Attachment, uid="message-pages")
    drop_on_write(_chart_written, Patient, uid="message-pages")
    drop_on_update(_charts_updated, Patient, uid="message-pages")
