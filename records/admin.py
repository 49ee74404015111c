"""The health record in the clinic admin: read-only lists of what the record system
sent (staff see every row, released to the patient or not), a section on the chart's
page (``templates/admin/records/_chart_record.html``), and the release rules clinic
admins set."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from clinics.admin_site import clinic_admin_site
from clinics.scoped_admin import ClinicScopedAdmin, ReadOnlyAdminMixin
from portal.audit.services import audit_record
from records import services
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
    ReleaseRule,
)


class RecordAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    """A read-only list of one kind of row; opening a row is audited."""

    list_select_related = ["patient"]
    search_fields = ["patient__last_name", "patient__first_name", "display", "source_value"]
    date_hierarchy = None
    list_filter = ["received_at"]
    exclude = ["file"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields if f.name not in ("id", "file")]

    def get_search_fields(self, request):
        names = {f.name for f in self.model._meta.concrete_fields}
        return [f for f in self.search_fields if f.split("__")[0] in names]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and getattr(response, "status_code", None) == 200:
            row = self.get_object(request, object_id)
            if row is not None:
                audit_record(
                    action="record.viewed",
                    request=request,
                    obj=row,
                    acting_for=row.patient,
                    details={"section": self.model._meta.model_name},
                )
        return response


@admin.register(DiagnosticReport, site=clinic_admin_site)
class DiagnosticReportAdmin(RecordAdmin):
    list_display = ["display", "patient", "date", "category", "status", "reviewed_at", "release_at"]
    list_filter = ["category", "status"]


@admin.register(Observation, site=clinic_admin_site)
class ObservationAdmin(RecordAdmin):
    list_display = ["display", "patient", "date", "value", "interpretation", "status"]
    list_filter = ["category", "status", "interpretation"]

    @admin.display(description=_("value"))
    def value(self, obj):
        if obj.value_quantity is not None:
            return f"{obj.value_quantity.normalize()} {obj.value_unit}".strip()
        return obj.value_display or obj.value_string


@admin.register(Medication, site=clinic_admin_site)
class MedicationAdmin(RecordAdmin):
    list_display = ["display", "patient", "kind", "status", "date", "refills_allowed"]
    list_filter = ["kind", "status"]


@admin.register(AllergyIntolerance, site=clinic_admin_site)
class AllergyIntoleranceAdmin(RecordAdmin):
    list_display = ["display", "patient", "criticality", "clinical_status", "date"]
    list_filter = ["clinical_status", "criticality"]


@admin.register(Immunization, site=clinic_admin_site)
class ImmunizationAdmin(RecordAdmin):
    list_display = ["display", "patient", "date", "status"]
    list_filter = ["status"]


@admin.register(Document, site=clinic_admin_site)
class DocumentAdmin(RecordAdmin):
    list_display = ["title", "patient", "kind", "date", "status", "size"]
    list_filter = ["kind", "status"]
    search_fields = ["patient__last_name", "patient__first_name", "title", "source_value"]


@admin.register(ReleaseRule, site=clinic_admin_site)
class ReleaseRuleAdmin(ClinicScopedAdmin):
    """When each category of results is shown to patients. A change applies at once to
    every result not yet shown (``records.services.release_rules_apply``)."""

    list_display = ["__str__", "mode", "days"]
    fields = ["category", "mode", "days"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._applied(request, obj, "saved")

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._applied(request, obj, "deleted")

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        self._applied(request, None, "deleted")

    def _applied(self, request, rule, what):
        changed = services.release_rules_apply(clinic=request.clinic)
        audit_record(
            action="record.release_rules_changed",
            request=request,
            details={
                "category": rule.category if rule is not None else "",
                "change": what,
                "results_rescheduled": changed,
            },
        )
