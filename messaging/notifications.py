"""What the message notices render with: the clinic's name and a link, nothing else.

Neither notice carries the message's text, its subject or the patient's name.
"""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from messaging.models import Message
from portal.notifications.registry import Obsolete, register


def _message(notification):
    message = (
        Message.objects.for_clinic(notification.clinic)
        .filter(pk=notification.context["message_id"], thread_id=notification.context["thread_id"])
        .first()
    )
    if message is None:
        raise Obsolete("the message is gone")
    return message


@register("message_new", label=_("New message"))
def message_new_context(notification):
    """To the patient or a representative: a new message from the clinic."""
    message = _message(notification)
    if message.read_by_patient_at is not None:
        raise Obsolete("the message was read before the notice went out")
    path = reverse("portal:messages", urlconf=settings.ROOT_URLCONF)
    return {"link": notification.clinic.build_url(path)}


@register("message_staff_notice", label=_("New message (staff notice)"))
def message_staff_notice_context(notification):
    """To the clinic's notification email: a patient wrote through the portal."""
    message = _message(notification)
    path = reverse(
        "admin:messaging_thread_change",
        args=[message.thread_id],
        urlconf=settings.ROOT_URLCONF,
    )
    return {"link": notification.clinic.build_url(path)}
