from django.contrib import admin

from appointments.models import Provider
from clinics.admin_site import clinic_admin_site
from clinics.scoped_admin import ClinicScopedAdmin


@admin.register(Provider, site=clinic_admin_site)
class ProviderAdmin(ClinicScopedAdmin):
    list_display = ["name", "title", "bookable_online", "is_active"]
    list_filter = ["bookable_online", "is_active"]
    search_fields = ["name"]
