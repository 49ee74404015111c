from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from clinics.admin_site import clinic_admin_site
from clinics.scoped_admin import ClinicScopedAdmin, ClinicScopedInline
from patients.models import Patient, PatientIdentifier


class PatientIdentifierInline(ClinicScopedInline):
    model = PatientIdentifier
    fields = ["id_type", "number"]


@admin.register(Patient, site=clinic_admin_site)
class PatientAdmin(ClinicScopedAdmin):
    list_display = ["__str__", "date_of_birth", "status", "primary_provider"]
    list_filter = ["status", "primary_provider"]
    list_select_related = ["primary_provider"]
    search_fields = ["last_name", "first_name", "=identifiers__number", "email"]
    search_help_text = _("Search by name, email or ID number.")
    inlines = [PatientIdentifierInline]
    fieldsets = [
        (None, {"fields": ["first_name", "last_name", "date_of_birth", "sex", "status"]}),
        (_("Contact"), {"fields": ["email", "mobile", "preferred_language"]}),
        (
            _("Address"),
            {"fields": ["address_line1", "address_line2", "city", "region", "postal_code"]},
        ),
        (_("Care"), {"fields": ["primary_provider"]}),
    ]
