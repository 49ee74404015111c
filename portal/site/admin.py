"""The notification outbox in the clinic admin, with the resend action (audited).

Registered in place of ``portal.notifications.admin.NotificationAdmin``: the audit log and
the outbox are sibling apps that do not know each other, and this composition layer knows
both.
"""

from django.contrib import admin, messages
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clinics.admin_site import clinic_admin_site
from portal.audit.services import audit_record
from portal.notifications.admin import NotificationAdmin
from portal.notifications.models import Notification
from portal.notifications.services import NotResendable, notification_resend

CONFIRM_FIELD = "confirm_unknown"


class NotificationWithResendAdmin(NotificationAdmin):
    actions = ["resend"]

    def get_list_display(self, request):
        return [*super().get_list_display(request), "resent_at"]

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.resend_notification")

    @admin.action(permissions=["resend"], description=_("Resend selected notifications"))
    def resend(self, request, queryset):
        """Queue a new copy of each failed, undelivered or unknown notification selected.

        An unknown outcome may already have arrived: when the selection holds one, a page
        asks first, and only its "resend" button resends them.
        """
        rows = list(queryset.order_by("pk"))
        confirmed = request.POST.get(CONFIRM_FIELD) == "yes"
        unknown = [
            row
            for row in rows
            if row.status == Notification.Status.UNKNOWN and row.resent_at is None
        ]
        if unknown and not confirmed:
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request,
                "admin/notifications/notification/resend_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Resend notifications whose outcome is unknown?"),
                    "opts": self.model._meta,
                    "rows": rows,
                    "unknown": unknown,
                    "confirm_field": CONFIRM_FIELD,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        resent = 0
        for row in rows:
            try:
                with transaction.atomic():
                    copy = notification_resend(
                        clinic=request.clinic, notification_id=row.pk, confirmed_unknown=confirmed
                    )
                    audit_record(
                        action="notification.resent",
                        request=request,
                        obj=row,
                        details={
                            "status": row.status,
                            "channel": row.channel,
                            "template": row.template,
                            "copy_id": copy.pk,
                        },
                    )
            except (NotResendable, Notification.DoesNotExist):
                continue
            resent += 1
        if resent:
            self.message_user(
                request,
                ngettext(
                    "%(count)d notification was queued again.",
                    "%(count)d notifications were queued again.",
                    resent,
                )
                % {"count": resent},
                messages.SUCCESS,
            )
        skipped = len(rows) - resent
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d notification was not resent: only one that failed, was not "
                    "delivered or has an unknown outcome, and was not resent before, can be.",
                    "%(count)d notifications were not resent: only one that failed, was not "
                    "delivered or has an unknown outcome, and was not resent before, can be.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
        return None


clinic_admin_site.unregister(Notification)
clinic_admin_site.register(Notification, NotificationWithResendAdmin)
