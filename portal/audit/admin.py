from django.contrib import admin

from clinics.admin_site import clinic_admin_site, platform_admin_site
from clinics.scoped_admin import ClinicScopedAdmin, ReadOnlyAdminMixin
from portal.audit.models import AuditEvent

_LIST = ["created_at", "action", "actor_label", "acting_for", "object_type", "object_id", "ip"]


@admin.register(AuditEvent, site=clinic_admin_site)
class AuditEventAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    list_display = _LIST
    list_filter = ["action"]
    search_fields = ["actor_label", "object_id", "action"]
    date_hierarchy = "created_at"
    list_select_related = ["acting_for"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("audit.view_auditevent")


@admin.register(AuditEvent, site=platform_admin_site)
class PlatformAuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["clinic", *_LIST]
    list_filter = ["clinic", "action"]
    list_select_related = ["clinic", "acting_for"]
