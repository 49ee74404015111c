from django.contrib import admin

from clinics.admin_site import clinic_admin_site, platform_admin_site
from clinics.scoped_admin import ClinicScopedAdmin, ReadOnlyAdminMixin
from portal.notifications.models import Notification

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
