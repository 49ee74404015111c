from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from clinics.admin import PortalSettingsAdmin
from clinics.admin_site import clinic_admin_site, platform_admin_site
from clinics.models import PortalSettings
from clinics.scoped_admin import ClinicScopedAdmin, ReadOnlyAdminMixin
from portal.notifications.models import Notification
from portal.notifications.services import notify

_LIST = [
    "created_at",
    "channel",
    "recipient",
    "template",
    "status",
    "attempts",
    "sent_at",
    "delivered_at",
    "last_error",
]


@admin.register(Notification, site=clinic_admin_site)
class NotificationAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    """Staff see what was sent, when, and what the provider said. Nobody edits it."""

    list_display = _LIST
    # A text message's recipient is shown as the clinic writes numbers.
    phone_fields = ("recipient",)
    list_filter = ["status", "channel", "template"]
    search_fields = ["recipient", "provider_message_id"]
    date_hierarchy = "created_at"
    exclude = ["context"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("notifications.view_notification")


@admin.register(Notification, site=platform_admin_site)
class PlatformNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["clinic", *_LIST]
    list_filter = ["status", "channel", "clinic"]
    list_select_related = ["clinic"]
    exclude = ["context"]


class PortalSettingsWithTestMessageAdmin(PortalSettingsAdmin):
    """The clinic's portal settings with a button that sends the admin a test email or
    SMS; registered in place of ``clinics.admin.PortalSettingsAdmin`` (the clinics app
    knows nothing of notifications)."""

    change_form_template = "admin/clinics/portalsettings/change_form.html"

    def get_urls(self):
        return [
            path(
                "test-message/",
                self.admin_site.admin_view(self.test_message_view),
                name="clinics_portalsettings_test_message",
            ),
            *super().get_urls(),
        ]

    def test_message_view(self, request):
        """Send a test email or SMS to the signed-in clinic admin (checks the set-up)."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        channel = request.POST.get("channel")
        user = request.user
        recipient = {"email": user.email, "sms": str(user.phone or "")}.get(channel)
        if not recipient:
            messages.error(
                request, _("Add your email address or mobile number to your account first.")
            )
        else:
            with transaction.atomic():
                notify(
                    clinic=request.clinic,
                    channel=channel,
                    recipient=recipient,
                    template="staff_test",
                    language=request.LANGUAGE_CODE,
                )
            messages.success(
                request,
                _("Test message queued at %(time)s. Its status is under Notifications.")
                % {"time": formats.localize(timezone.localtime(), use_l10n=True)},
            )
        return redirect(reverse(f"{self.admin_site.name}:clinics_portalsettings_changelist"))


clinic_admin_site.unregister(PortalSettings)
clinic_admin_site.register(PortalSettings, PortalSettingsWithTestMessageAdmin)
