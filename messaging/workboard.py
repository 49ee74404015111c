"""The messaging app's queue on the front desk's work screen (``clinics.workboard``)."""

from django.utils.translation import gettext_lazy as _

from clinics import workboard
from messaging.models import Thread


def threads_awaiting_reply(*, clinic, now):
    """Threads whose last message is the patient's and nobody marked handled; waiting
    since that message."""
    waiting = Thread.objects.for_clinic(clinic).awaiting_reply()
    return workboard.tally(waiting, since="last_message_at")


def register_items():
    workboard.register(
        "messaging.awaiting_reply",
        order=30,
        label=_("Messages awaiting a reply"),
        loader=threads_awaiting_reply,
        url="admin:messaging_thread_changelist?awaiting=yes",
        permission="messaging.view_thread",
    )
