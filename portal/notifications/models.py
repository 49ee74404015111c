from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.scoping import ClinicOwned


class Notification(ClinicOwned):
    """One email or SMS, written in the caller's transaction and sent after commit.

    ``context`` holds only ids needed to render (never message text or health data);
    the template's context builder re-fetches what it needs at send time.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("Text message")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        UNDELIVERED = "undelivered", _("Undelivered")
        # The provider may or may not have accepted it (a 5xx or a timeout after
        # sending): never resent automatically, shown to staff.
        UNKNOWN = "unknown", _("Unknown")
        CANCELLED = "cancelled", _("Cancelled")
        # Recorded but never sent: the daily limit of its kind was reached (last_error
        # says which); staff see it in the list with the others.
        OVER_LIMIT = "over_limit", _("Not sent: daily limit")

    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=254)
    template = models.CharField(_("template"), max_length=64)
    context = models.JSONField(_("context ids"), default=dict, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    # What a daily limit counts by (e.g. "patient:42"): an opaque id, never a name.
    limit_key = models.CharField(_("limit key"), max_length=64, blank=True, default="")
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # When staff resent this one (as a new row, sent like any other; the audit event names
    # it): a notification is resent once. No index, so the column is added without
    # rewriting or locking a large outbox.
    resent_at = models.DateTimeField(_("resent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        permissions = [("resend_notification", _("Can resend a notification that failed"))]
        indexes = [
            # The work screen's count of what needs a look (clinics.workboard).
            models.Index(
                fields=["clinic", "created_at"],
                condition=models.Q(status__in=["failed", "undelivered", "unknown"]),
                name="notification_needs_look_idx",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="notification_pending_idx",
            ),
            models.Index(fields=["provider_message_id"], name="notification_provider_idx"),
            models.Index(fields=["clinic", "-created_at"], name="notification_clinic_idx"),
            models.Index(
                fields=["clinic", "limit_key", "channel", "created_at"],
                condition=~models.Q(limit_key=""),
                name="notification_limit_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} · {self.template} · {self.get_status_display()}"
