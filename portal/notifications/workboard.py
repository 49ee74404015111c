"""The notifications' queue on the front desk's work screen (``clinics.workboard``)."""

from django.utils.translation import gettext_lazy as _

from clinics import workboard
from portal.notifications.models import Notification

NEEDS_A_LOOK = (
    Notification.Status.FAILED,
    Notification.Status.UNDELIVERED,
    Notification.Status.UNKNOWN,
)


def failed_notifications(*, clinic, now):
    failed = Notification.objects.for_clinic(clinic).filter(status__in=NEEDS_A_LOOK)
    return workboard.tally(failed, since="created_at")


def register_items():
    workboard.register(
        "notifications.failed",
        order=50,
        label=_("Notifications failed or of unknown state"),
        loader=failed_notifications,
        url="admin:notifications_notification_changelist?status__in=" + ",".join(NEEDS_A_LOOK),
        permission="notifications.view_notification",
    )
