"""Reads for messaging. Every read is scoped to one clinic, and on the portal to the
patient the request acts for; a thread or attachment outside them is a 404.

The querysets load what their pages show (patient, messages, attachments, unread
counts) so list and thread pages run a fixed number of queries.
"""

from django.http import Http404

from messaging.models import Attachment, Message, Side, Thread


def _share_clinic(thread, clinic):
    # The query already checked the clinic; reuse the request's (with its settings)
    # instead of loading it again for the thread and the patient.
    thread.clinic = clinic
    thread.patient.clinic = clinic
    return thread


# --- Patient portal ---------------------------------------------------------------------


def threads_for_patient(*, clinic, patient):
    """The patient's threads, newest activity first, each with ``unread``."""
    return (
        Thread.objects.for_clinic(clinic)
        .filter(patient=patient)
        .with_unread_for_patient()
        .order_by("-last_message_at", "-id")
    )


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
