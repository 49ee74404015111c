"""Reads for messaging. Every read is scoped to one clinic, and on the portal to the
patient the request acts for; a thread or attachment outside them is a 404.

The querysets load what their pages show (patient, messages, attachments, unread
counts) so list and thread pages run a fixed number of queries.
"""

from django.db.models import Count, Exists, Min, OuterRef
from django.http import Http404

from messaging.models import Attachment, Message, Pool, Side, Thread


def _share_clinic(thread, clinic):
    # The query already checked the clinic; reuse the request's (with its settings)
    # instead of loading it again for the thread and the patient.
    thread.clinic = clinic
    thread.patient.clinic = clinic
    return thread


# --- Patient portal ---------------------------------------------------------------------


def threads_for_patient(*, clinic, patient):
    """The patient's threads, newest activity first, each with ``unread``,
    ``unread_by_clinic`` and ``from_patient`` (the patient's side wrote in it)."""
    return (
        Thread.objects.for_clinic(clinic)
        .filter(patient=patient)
        .with_unread_for_patient()
        .with_unread_by_clinic()
        .annotate(
            from_patient=Exists(
                Message.objects.filter(thread=OuterRef("pk"), sender_side=Side.PATIENT)
            )
        )
        .order_by("-last_message_at", "-id")
    )


def mark_clinic_status(conversation) -> None:
    """Set ``clinic_status`` on each of the patient's side's messages of a conversation
    (oldest first): "answered" once a person at the clinic wrote after it, else "read"
    once a staff member opened it, else "sent". The clinic's messages get ""."""
    answered = False
    for message in reversed(conversation):
        if message.sender_side == Side.STAFF:
            message.clinic_status = ""
            answered = answered or not message.automatic
        elif answered:
            message.clinic_status = "answered"
        elif message.read_by_staff_at is not None:
            message.clinic_status = "read"
        else:
            message.clinic_status = "sent"


def unread_count_for_patient(*, clinic, patient) -> int:
    """How many of the clinic's messages to this patient are still unread."""
    return (
        Message.objects.for_clinic(clinic)
        .filter(thread__patient=patient, sender_side=Side.STAFF, read_by_patient_at__isnull=True)
        .count()
    )


def get_thread_for_portal(request, pk) -> Thread:
    """The thread ``pk`` of the patient the request acts for, with its conversation;
    404 for any other patient's thread or another clinic's."""
    thread = (
        Thread.objects.for_clinic(request.clinic)
        .filter(patient=request.patient)
        .with_conversation()
        .filter(pk=pk)
        .first()
    )
    if thread is None:
        raise Http404
    return _share_clinic(thread, request.clinic)


def get_attachment_for_portal(request, pk) -> Attachment:
    """An attachment in one of the request's patient's threads; 404 otherwise."""
    attachment = (
        Attachment.objects.for_clinic(request.clinic)
        .filter(pk=pk, message__thread__patient=request.patient)
        .select_related("message__thread__patient")
        .first()
    )
    if attachment is None:
        raise Http404
    _share_clinic(attachment.message.thread, request.clinic)
    return attachment


# --- Clinic staff ----------------------------------------------------------------------


def threads_for_staff(*, clinic):
    """The clinic's threads with their patient and ``unread`` (by staff)."""
    return Thread.objects.for_clinic(clinic).select_related("patient").with_unread_for_staff()


def get_thread_for_staff(request, pk) -> Thread:
    """A thread of the staff member's clinic with its conversation; 404 otherwise."""
    thread = Thread.objects.for_clinic(request.clinic).with_conversation().filter(pk=pk).first()
    if thread is None:
        raise Http404
    return _share_clinic(thread, request.clinic)


def pools_for_clinic(*, clinic):
    return Pool.objects.for_clinic(clinic).order_by("name", "id")


def pool_ids_of(*, clinic, user) -> list[int]:
    """The pools of ``clinic`` that ``user`` is a member of."""
    return list(Pool.objects.for_clinic(clinic).filter(members=user).values_list("pk", flat=True))


def threads_awaiting_reply_by_pool(*, clinic) -> list[dict]:
    """For a work screen: per pool, the threads awaiting a reply and when the oldest of
    them was last written to. Rows ``{"pool": Pool | None, "count": int, "oldest":
    datetime}``, pools by name, threads in no pool last; pools with none left out."""
    rows = (
        Thread.objects.for_clinic(clinic)
        .awaiting_reply()
        .order_by()
        .values("pool")
        .annotate(count=Count("pk"), oldest=Min("last_message_at"))
    )
    pools = {pool.pk: pool for pool in pools_for_clinic(clinic=clinic)}
    found = [
        {"pool": pools.get(row["pool"]), "count": row["count"], "oldest": row["oldest"]}
        for row in rows
        if row["pool"] is None or row["pool"] in pools
    ]
    return sorted(found, key=lambda r: (r["pool"] is None, r["pool"].name if r["pool"] else ""))


def get_pool_for_staff(request, pk) -> Pool:
    pool = Pool.objects.for_clinic(request.clinic).filter(pk=pk).first()
    if pool is None:
        raise Http404
    return pool


def get_attachment_for_staff(request, pk) -> Attachment:
    attachment = (
        Attachment.objects.for_clinic(request.clinic)
        .filter(pk=pk)
        .select_related("message__thread__patient")
        .first()
    )
    if attachment is None:
        raise Http404
    _share_clinic(attachment.message.thread, request.clinic)
    return attachment
