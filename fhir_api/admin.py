from django.contrib import admin

from clinics.admin_site import clinic_admin_site
from clinics.scoped_admin import ClinicScopedAdmin
from fhir_api.models import IdentifierSystem, SmartClient
from fhir_api.smart import smart_client_register


@admin.register(SmartClient, site=clinic_admin_site)
class SmartClientAdmin(ClinicScopedAdmin):
    """Clinic admins register their record system: its public keys (pasted, never
    fetched) and the SMART v2 system scopes it may be granted."""

    list_display = ["name", "client_id", "scopes", "is_active", "created_at"]
    fields = ["name", "client_id", "jwks", "scopes", "requests_per_minute", "is_active"]
    readonly_fields = ["client_id"]

    def has_delete_permission(self, request, obj=None):
        # Its account is the actor of its audit events: deactivate, never delete.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            smart_client_register(client=obj, clinic=request.clinic)


@admin.register(IdentifierSystem, site=clinic_admin_site)
class IdentifierSystemAdmin(ClinicScopedAdmin):
    list_display = ["id_type", "system"]
