"""Writes for messaging. Views, admin views and the demo data all come through here.

Every write is atomic: the rows, the notifications (sent after commit) and the audit
events are recorded together or not at all. Every read of a conversation or an
attachment is recorded in the audit log too, with ``acting_for`` = the patient.
"""

import datetime as dt

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from messaging.acknowledgement import acknowledgement_text
from messaging.attachments import CheckedUpload
from messaging.models import Attachment, Message, PoolCategory, Side, Thread
from messaging.policy import patient_may_reply, patient_may_start
from messaging.storage import attachment_storage
from patients.contacts import notice_recipients
from portal.audit.services import audit_record
from portal.core.cache import clinic_cache_key
from portal.notifications.services import notify

# A patient's side viewing a conversation again, with nothing new in it, is audited at
# most once in this many seconds per account and thread (the first read of every message
# is always audited, with the read mark, in one transaction).
REPEAT_READ_AUDIT_SECONDS = 15 * 60
REPEAT_READ_WINDOW = dt.timedelta(seconds=REPEAT_READ_AUDIT_SECONDS)


class MessagingRefused(Exception):  # noqa: N818 - reads as "messaging refused"
    """The clinic's settings or the account's access do not allow this write."""


def _side_of(*, author, access, patient, as_clinic=False) -> Side:
    """Staff of the patient's clinic (or, ``as_clinic``, another account of that clinic
    writing for it: its record system's client), or a portal account whose grant
    reaches this patient's messages; anyone else is refused."""
    if author.is_staff or as_clinic:
        if author.clinic_id != patient.clinic_id:
            raise MessagingRefused("staff of another clinic")
        return Side.STAFF
    if (
        access is None
        or access.user_id != author.pk
        or access.patient_id != patient.pk
        or not access.allows("messages")
    ):
        raise MessagingRefused("no grant to this patient's messages")
    return Side.PATIENT


def _author_fields(*, author, access, side) -> dict:
    name = author.get_full_name() or author.username
    if side == Side.STAFF:
        return {"author": author, "author_name": name, "author_relationship": ""}
    if not access.acts_for_someone_else:
        name = author.get_full_name() or access.patient.full_name
    return {"author": author, "author_name": name, "author_relationship": access.relationship}


def _write_message(*, thread, side, author, access, body, attachments, now, stored) -> Message:
    message = Message.objects.create(
        clinic_id=thread.clinic_id,
        thread=thread,
        sender_side=side,
        body=body,
        created_at=now,
        read_by_staff_at=now if side == Side.STAFF else None,
        read_by_patient_at=now if side == Side.PATIENT else None,
        **_author_fields(author=author, access=access, side=side),
    )
    for upload in attachments:
        if not isinstance(upload, CheckedUpload):
            raise TypeError("attachments must pass messaging.attachments.check_upload")
        attachment = Attachment(
            clinic_id=thread.clinic_id,
            message=message,
            original_name=upload.name,
            content_type=upload.content_type,
            size=upload.size,
            created_at=now,
        )
        upload.file.seek(0)
        attachment.file.save(upload.name, upload.file, save=False)
        stored.append(attachment.file.name)
        attachment.save()
    return message


def _notify(*, thread, message, side) -> None:
    """Tell the other side. Bodies say only that there is a new message: never its
    text, its subject or the patient's name."""
    clinic = thread.clinic
    if side == Side.STAFF:
        for recipient in notice_recipients(thread.patient, scope="messages"):
            notify(
                clinic=clinic,
                channel=recipient.channel,
                recipient=recipient.address,
                template="message_new",
                context={"thread_id": thread.pk, "message_id": message.pk},
                language=recipient.language,
            )
    elif clinic.notification_email:
        notify(
            clinic=clinic,
            channel="email",
            recipient=clinic.notification_email,
            template="message_staff_notice",
            context={"thread_id": thread.pk, "message_id": message.pk},
        )


def _acknowledge(*, thread, now) -> Message:
    """The clinic's automatic acknowledgement of the patient's message: a message from
    the clinic marked ``automatic``, in the patient's language, stating the pool's (else
    the clinic's) reply time, or its out-of-office dates. It leaves the thread awaiting a
    reply, counts as read by both sides (the patient sees it as they send) and sends no
    notice."""
    clinic, pool = thread.clinic, thread.pool
    text = acknowledgement_text(
        portal_settings=clinic.portal_settings,
        pool=pool,
        today=timezone.localdate(now, clinic.tz),
        language=thread.patient.preferred_language,
    )
    message = Message.objects.create(
        clinic_id=thread.clinic_id,
        thread=thread,
        sender_side=Side.STAFF,
        automatic=True,
        author=None,
        author_name=pool.name if pool else clinic.public_name,
        body=text,
        created_at=now,
        read_by_staff_at=now,
        read_by_patient_at=now,
    )
    audit_record(
        action="message.sent",
        clinic=clinic,
        actor=None,
        obj=message,
        acting_for=thread.patient,
        details={"thread": thread.pk, "side": str(Side.STAFF), "automatic": True},
    )
    return message


def _audit_sent(*, message, thread, author, request, side, attachments) -> None:
    audit_record(
        action="message.sent",
        request=request,
        clinic=thread.clinic,
        actor=author,
        obj=message,
        acting_for=thread.patient,
        details={
            "thread": thread.pk,
            "side": str(side),
            "attachments": len(attachments),
        },
    )


def _cleaning_up_files(write):
    """Run ``write(stored)``; if it fails, delete the files it stored."""
    stored: list[str] = []
    try:
        return write(stored)
    except BaseException:
        for name in stored:
            attachment_storage().delete(name)
        raise


def thread_start(
    *,
    clinic,
    patient,
    subject: str,
    category: str,
    body: str,
    author,
    access=None,
    attachments=(),
    request=None,
    as_clinic: bool = False,
    notice: bool = True,
) -> Thread:
    """Open a thread with its first message and tell the other side.

    Staff may write to any patient of their own clinic. A patient's side (the patient,
    or a representative whose grant includes messages: pass their ``access``) may start
    a thread only when the clinic allows patient-started messages (and, while the
    patient is pending verification, pending patients' messages). Raises
    MessagingRefused otherwise. ``as_clinic``: ``author`` is an account of the clinic
    that is not a person at the desk (the record system's client) and writes as the
    clinic, under the staff rules. ``notice=False``: the other side is not told of this
    message here, because the caller sends its own notice (a refill request's answer).
    Atomic; files stored by a failed call are removed.
    """
    if patient.clinic_id != clinic.pk:
        raise MessagingRefused("the patient belongs to another clinic")
    side = _side_of(author=author, access=access, patient=patient, as_clinic=as_clinic)
    if side == Side.PATIENT and not patient_may_start(
        patient=patient, portal_settings=clinic.portal_settings
    ):
        raise MessagingRefused("the clinic does not accept new messages from patients")

    pool = (
        PoolCategory.objects.for_clinic(clinic).filter(category=category).select_related("pool")
    ).first()
    pool = pool.pool if pool else None

    def write(stored):
        now = timezone.now()
        with transaction.atomic():
            thread = Thread.objects.create(
                clinic=clinic,
                patient=patient,
                subject=subject,
                category=category,
                pool=pool,
                started_by=author,
                created_at=now,
                last_message_at=now,
                last_sender_side=side,
            )
            message = _write_message(
                thread=thread,
                side=side,
                author=author,
                access=access,
                body=body,
                attachments=attachments,
                now=now,
                stored=stored,
            )
            audit_record(
                action="message.thread_started",
                request=request,
                clinic=clinic,
                actor=author,
                obj=thread,
                acting_for=patient,
                details={
                    "category": category,
                    "side": str(side),
                    "pool": pool.pk if pool else None,
                },
            )
            _audit_sent(
                message=message,
                thread=thread,
                author=author,
                request=request,
                side=side,
                attachments=attachments,
            )
            if notice:
                _notify(thread=thread, message=message, side=side)
            if side == Side.PATIENT:
                _acknowledge(thread=thread, now=now)
        return thread

    return _cleaning_up_files(write)


def message_post(
    *, thread, body: str, author, access=None, attachments=(), request=None, as_clinic=False
) -> Message:
    """Add a message to a thread and tell the other side.

    A patient's side may reply only when the clinic allows replies (see thread_start
    for who counts as the patient's side); their message reopens a handled thread.
    Raises MessagingRefused otherwise. ``as_clinic`` as for thread_start. Atomic; files
    stored by a failed call are removed.
    """
    patient = thread.patient
    side = _side_of(author=author, access=access, patient=patient, as_clinic=as_clinic)
    if side == Side.PATIENT and not patient_may_reply(
        patient=patient, portal_settings=thread.clinic.portal_settings
    ):
        raise MessagingRefused("the clinic does not accept replies from patients")

    def write(stored):
        now = timezone.now()
        was_waiting = thread.awaiting_reply
        with transaction.atomic():
            message = _write_message(
                thread=thread,
                side=side,
                author=author,
                access=access,
                body=body,
                attachments=attachments,
                now=now,
                stored=stored,
            )
            changes = {"last_message_at": now, "last_sender_side": side}
            if side == Side.PATIENT:
                changes.update(handled_at=None, handled_by=None)
            Thread.objects.filter(pk=thread.pk).update(**changes)
            for field, value in changes.items():
                setattr(thread, field, value)
            _audit_sent(
                message=message,
                thread=thread,
                author=author,
                request=request,
                side=side,
                attachments=attachments,
            )
            _notify(thread=thread, message=message, side=side)
            if side == Side.PATIENT and not was_waiting:
                _acknowledge(thread=thread, now=now)
        return message

    return _cleaning_up_files(write)


def thread_mark_read(*, thread, reader, request=None) -> int:
    """Record that ``reader`` opened the conversation: the other side's unread messages
    become read for the reader's side. Returns how many messages became read.

    Audited (``message.read``): every staff view; on the patient's side every view that
    reads a message for the first time (with the read mark, in one transaction), and
    other views at most once per ``REPEAT_READ_AUDIT_SECONDS`` per account and thread
    (see ``thread_record_view``)."""
    side = Side.STAFF if reader.is_staff else Side.PATIENT
    now = timezone.now()
    with transaction.atomic():
        other = Message.objects.for_clinic(thread.clinic_id).filter(thread=thread)
        if side == Side.STAFF:
            marked = other.filter(sender_side=Side.PATIENT, read_by_staff_at__isnull=True).update(
                read_by_staff_at=now
            )
        else:
            marked = other.filter(sender_side=Side.STAFF, read_by_patient_at__isnull=True).update(
                read_by_patient_at=now
            )
        if side == Side.STAFF or marked:
            _audit_read(thread=thread, reader=reader, request=request, side=side, marked=marked)
    if side == Side.PATIENT and marked:
        _repeat_read_recorded(thread=thread, reader=reader)
    elif side == Side.PATIENT:
        thread_record_view(thread=thread, reader=reader, request=request)
    return marked


def _audit_read(*, thread, reader, request, side, marked) -> None:
    audit_record(
        action="message.read",
        request=request,
        clinic=thread.clinic,
        actor=reader,
        obj=thread,
        acting_for=thread.patient,
        details={"side": str(side), "newly_read": marked},
    )


def repeat_read_key(*, thread, reader) -> str:
    return clinic_cache_key(thread.clinic_id, "message-read-audited", reader.pk, thread.pk)


def _repeat_read_recorded(*, thread, reader, now=None) -> None:
    # The time is kept in the entry (not only as its expiry) so the window follows the
    # portal's clock whatever the cache backend.
    now = now or timezone.now()
    cache.set(repeat_read_key(thread=thread, reader=reader), now, REPEAT_READ_AUDIT_SECONDS)


def thread_record_view(*, thread, reader, request=None) -> bool:
    """A patient's side viewed a conversation with nothing unread in it: audit it unless
    this account's view of this thread was audited in the last
    ``REPEAT_READ_AUDIT_SECONDS``. Returns whether an event was written.

    ``thread`` needs only ``pk``, ``clinic`` and ``patient`` (the page may come from the
    cache). The window is kept in the shared cache: losing it audits more, never less."""
    now = timezone.now()
    last = cache.get(repeat_read_key(thread=thread, reader=reader))
    if isinstance(last, dt.datetime) and now - last < REPEAT_READ_WINDOW:
        return False
    _audit_read(thread=thread, reader=reader, request=request, side=Side.PATIENT, marked=0)
    _repeat_read_recorded(thread=thread, reader=reader, now=now)
    return True


def thread_assign_pool(*, thread, pool, assigned_by, request=None) -> bool:
    """Staff move a thread to another pool (``None``: no pool). Audited with the pool it
    came from and the one it goes to. Returns False when it already was there."""
    if not assigned_by.is_staff or assigned_by.clinic_id != thread.clinic_id:
        raise MessagingRefused("only the clinic's staff route threads")
    if pool is not None and pool.clinic_id != thread.clinic_id:
        raise MessagingRefused("the pool belongs to another clinic")
    with transaction.atomic():
        current = (
            Thread.objects.for_clinic(thread.clinic_id)
            .select_for_update()
            .filter(pk=thread.pk)
            .values_list("pool_id", flat=True)
            .first()
        )
        new = pool.pk if pool is not None else None
        if current == new:
            return False
        Thread.objects.for_clinic(thread.clinic_id).filter(pk=thread.pk).update(pool=pool)
        thread.pool = pool
        audit_record(
            action="message.thread_reassigned",
            request=request,
            clinic=thread.clinic,
            actor=assigned_by,
            obj=thread,
            acting_for=thread.patient,
            details={"from_pool": current, "to_pool": new},
        )
    return True


def thread_mark_handled(*, thread, handled_by, request=None) -> bool:
    """Staff mark a thread handled (nothing more to do until the patient writes again).
    Idempotent: returns False when it already was."""
    if not handled_by.is_staff or handled_by.clinic_id != thread.clinic_id:
        raise MessagingRefused("only the clinic's staff handle threads")
    now = timezone.now()
    with transaction.atomic():
        changed = (
            Thread.objects.for_clinic(thread.clinic_id)
            .filter(pk=thread.pk, handled_at__isnull=True)
            .update(handled_at=now, handled_by=handled_by)
        )
        if changed:
            thread.handled_at, thread.handled_by = now, handled_by
            audit_record(
                action="message.thread_handled",
                request=request,
                clinic=thread.clinic,
                actor=handled_by,
                obj=thread,
                acting_for=thread.patient,
            )
    return bool(changed)


def attachment_record_download(*, attachment, reader, request=None) -> None:
    """Audit that ``reader`` downloaded an attachment (call after the access check)."""
    thread = attachment.message.thread
    audit_record(
        action="message.attachment_downloaded",
        request=request,
        clinic=thread.clinic,
        actor=reader,
        obj=attachment,
        acting_for=thread.patient,
        details={"thread": thread.pk, "message": attachment.message_id},
    )
