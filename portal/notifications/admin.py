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
from portal.notifications.registry import template_choices, template_label
from portal.notifications.services import notify


class TemplateFilter(admin.SimpleListFilter):
    """The kinds of notification by the names staff read, not their codes."""

    title = _("kind")
    parameter_name = "template"

    def lookups(self, request, model_admin):
        return template_choices()

    def queryset(self, request, queryset):
        return queryset.filter(template=self.value()) if self.value() else queryset


class NotificationLabels:
    """The template's code shown as its name, in the list and the detail page."""

    @admin.display(description=_("kind"), ordering="template")
    def kind(self, obj):
        return template_label(obj.template)

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or []), "template"]

    def get_readonly_fields(self, request, obj=None):
        return ["kind", *super().get_readonly_fields(request, obj)]


_LIST = [
    "created_at",
    "channel",
    "recipient",
    "kind",
    "status",
    "sent_at",
    "last_error",
]  # attempts and delivery time on the detail page: the list fits a 1280 px screen


@admin.register(Notification, site=clinic_admin_site)
class NotificationAdmin(NotificationLabels, ReadOnlyAdminMixin, ClinicScopedAdmin):
    """Staff see what was sent, when, and what the provider said. Nobody edits it."""

    list_display = _LIST
    # A text message's recipient is shown as the clinic writes numbers.
    phone_fields = ("recipient",)
    list_filter = ["status", "channel", TemplateFilter]
    search_fields = ["recipient", "provider_message_id"]
    date_hierarchy = "created_at"
    exclude = ["context"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("notifications.view_notification")


@admin.register(Notification, site=platform_admin_site)
class PlatformNotificationAdmin(NotificationLabels, ReadOnlyAdminMixin, admin.ModelAdmin):
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
