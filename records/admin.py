"""The health record in the clinic admin: read-only lists of what the record system
sent (staff see every row, released to the patient or not), a section on the chart's
page (``templates/admin/records/_chart_record.html``), and the release rules clinic
admins set."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy

from clinics.admin_site import clinic_admin_site
from clinics.scoped_admin import ClinicScopedAdmin, PendingFirstFilter, ReadOnlyAdminMixin
from portal.audit.services import audit_record
from records import services
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
    RefillRequest,
    ReleaseRule,
)

# The record system's codes as staff read them (the patient's pages say them in plainer
# words); a code not listed is shown as sent.
CODE_LABELS = {
    "status": {
        "registered": _("Registered"),
        "partial": _("Partial"),
        "preliminary": _("Preliminary"),
        "final": _("Final"),
        "amended": _("Amended"),
        "corrected": _("Corrected"),
        "appended": _("Appended"),
        "cancelled": _("Cancelled"),
        "entered-in-error": _("Entered in error"),
        "unknown": _("Unknown"),
        "active": _("Active"),
        "on-hold": _("On hold"),
        "completed": _("Completed"),
        "stopped": _("Stopped"),
        "draft": _("Draft"),
        "intended": _("Intended"),
        "not-taken": _("Not taken"),
        "not-done": _("Not done"),
        "current": _("Current"),
        "superseded": _("Superseded"),
    },
    "clinical_status": {
        "active": _("Active"),
        "inactive": _("Inactive"),
        "resolved": _("Resolved"),
    },
    "verification_status": {
        "unconfirmed": _("Unconfirmed"),
        "confirmed": _("Confirmed"),
        "refuted": _("Refuted"),
        "entered-in-error": _("Entered in error"),
    },
    "criticality": {
        "low": pgettext_lazy("allergy risk", "Low"),
        "high": pgettext_lazy("allergy risk", "High"),
        "unable-to-assess": _("Unable to assess"),
    },
    "interpretation": {
        "N": _("Normal"),
        "H": _("High"),
        "L": _("Low"),
        "HH": _("Critically high"),
        "LL": _("Critically low"),
        "A": _("Abnormal"),
        "AA": _("Critically abnormal"),
    },
}


COLUMN_NAMES = {  # the fields' own verbose names
    "status": _("status"),
    "clinical_status": _("clinical status"),
    "verification_status": _("verification"),
    "criticality": _("criticality"),
    "interpretation": _("interpretation"),
}


def code_label(field: str, code: str):
    return CODE_LABELS[field].get(code, code)


class LabelledCodes(admin.AllValuesFieldListFilter):
    """A filter on a coded field that names each code in words."""

    def choices(self, changelist):
        labels = CODE_LABELS.get(self.field_path, {})
        for choice in super().choices(changelist):
            if isinstance(choice["display"], str) and choice["display"] in labels:
                choice = {**choice, "display": labels[choice["display"]]}
            yield choice


def _coded(field: str):
    """A column (and read-only field) showing ``field``'s code in words."""

    def show(self, obj):
        return code_label(field, getattr(obj, field))

    show.__name__ = f"{field}_label"
    return admin.display(description=COLUMN_NAMES[field], ordering=field)(show)


def _labelled(names):
    return [f"{name}_label" if name in CODE_LABELS else name for name in names]


def _filters(names):
    return [(name, LabelledCodes) if name in CODE_LABELS else name for name in names]


class RecordAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    """A read-only list of one kind of row; opening a row is audited. Coded fields show
    in words (``CODE_LABELS``), in the list, its filters and the row's page."""

    status_label = _coded("status")
    clinical_status_label = _coded("clinical_status")
    verification_status_label = _coded("verification_status")
    criticality_label = _coded("criticality")
    interpretation_label = _coded("interpretation")

    def get_list_display(self, request):
        return _labelled(super().get_list_display(request))

    def get_list_filter(self, request):
        return _filters(super().get_list_filter(request))

    def get_exclude(self, request, obj=None):
        names = {f.name for f in self.model._meta.concrete_fields}
        return [*(super().get_exclude(request, obj) or []), *(names & set(CODE_LABELS))]

    list_select_related = ["patient"]
    search_fields = ["patient__last_name", "patient__first_name", "display", "source_value"]
    date_hierarchy = None
    list_filter = ["received_at"]
    exclude = ["file"]

    def get_readonly_fields(self, request, obj=None):
        return _labelled(
            f.name for f in self.model._meta.concrete_fields if f.name not in ("id", "file")
        )

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


class ReviewAction:
    """ "Mark reviewed" on a list of results: each through ``result_mark_reviewed`` (the
    release time recomputed, the patient told when that shows it), for staff who hold the
    model's ``review_*`` permission (clinic admins), on the clinic's rows only (the
    list's queryset)."""

    actions = ["mark_reviewed"]

    def has_review_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.review_{opts.model_name}")

    @admin.action(description=_("Mark reviewed"), permissions=["review"])
    def mark_reviewed(self, request, queryset):
        reviewed_by = request.user.get_full_name() or request.user.get_username()
        marked = already = in_report = 0
        for row in queryset.order_by("pk"):
            try:
                done = services.result_mark_reviewed(
                    clinic=request.clinic,
                    result=row,
                    reviewed_by=reviewed_by,
                    actor=request.user,
                    request=request,
                )
            except services.NotSaved:
                in_report += 1
                continue
            marked += done
            already += not done
        if marked:
            self.message_user(
                request,
                ngettext(
                    "%(count)d marked reviewed; the patient sees it as the release rules say.",
                    "%(count)d marked reviewed; the patients see them as the release rules say.",
                    marked,
                )
                % {"count": marked},
                messages.SUCCESS,
            )
        if already:
            self.message_user(
                request,
                ngettext(
                    "%(count)d was already reviewed: left as it was.",
                    "%(count)d were already reviewed: left as they were.",
                    already,
                )
                % {"count": already},
                messages.WARNING,
            )
        if in_report:
            self.message_user(
                request,
                ngettext(
                    "%(count)d belongs to a report: mark the report reviewed.",
                    "%(count)d belong to a report: mark the report reviewed.",
                    in_report,
                )
                % {"count": in_report},
                messages.WARNING,
            )


@admin.register(DiagnosticReport, site=clinic_admin_site)
class DiagnosticReportAdmin(ReviewAction, RecordAdmin):
    list_display = ["display", "patient", "date", "category", "status", "reviewed_at", "release_at"]
    list_filter = ["category", "status"]


@admin.register(Observation, site=clinic_admin_site)
class ObservationAdmin(ReviewAction, RecordAdmin):
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


# --- Refill requests: the front desk's queue ------------------------------------------------

REFILL_REFUSED = {
    "request_answered": _("This request has already been answered."),
    "answer_required": _("Give the patient an answer: why, and what to do next."),
    "answer_too_long": _("The answer is too long."),
    "not_plain_text": _("The answer can only hold plain text."),
}


class RefillAnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("Answer (the patient reads it with the medication)"),
        max_length=RefillRequest.ANSWER_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Optional to approve, required to decline: e.g. “Sent to your pharmacy, ready "
            "tomorrow.” or “Please book a review visit first.”"
        ),
    )


class RefillStatusFilter(PendingFirstFilter):
    statuses = RefillRequest.Status


@admin.register(RefillRequest, site=clinic_admin_site)
class RefillRequestAdmin(ClinicScopedAdmin):
    """The queue of patients' refill requests, oldest first. A request opens on a page
    to approve or decline it with an answer; both go through ``records.services``, which
    refuses a second decision (someone else answered first, or the record system)."""

    list_display = ["created_at", "patient", "medication", "status", "decided_at"]
    list_filter = [RefillStatusFilter]
    list_select_related = ["patient", "medication"]
    search_fields = ["patient__last_name", "patient__first_name"]
    ordering = ["created_at", "pk"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        def view(name, func):
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(func),
                name=f"records_refillrequest_{name}",
            )

        return [
            view("approve", self.approve_view),
            view("decline", self.decline_view),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The request, its medication, and while it waits the answer form (approve or
        decline, each posting to its own URL). Opening it is audited: it shows the
        chart's medication."""
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        audit_record(
            action="record.viewed",
            request=request,
            obj=obj,
            acting_for=obj.patient,
            details={"section": "refillrequest"},
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Refill request"),
            "original": obj,
            "may_answer": self.has_change_permission(request, obj) and obj.is_pending,
            "form": RefillAnswerForm(),
        }
        return TemplateResponse(request, "admin/records/refillrequest/decide.html", context)

    def _answerable(self, request, object_id):
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _decide(self, request, object_id, decide, done):
        obj = self._answerable(request, object_id)
        back = reverse("admin:records_refillrequest_change", args=[obj.pk])
        if request.method != "POST":
            return HttpResponseRedirect(back)
        form = RefillAnswerForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return HttpResponseRedirect(back)
        try:
            decide(
                refill_request=obj,
                answer=form.cleaned_data["answer"],
                decided_by=request.user,
                request=request,
            )
        except services.RefillRefused as refusal:
            messages.error(request, REFILL_REFUSED.get(refusal.rule, refusal.rule))
            return HttpResponseRedirect(back)
        messages.success(request, done)
        return HttpResponseRedirect(reverse("admin:records_refillrequest_changelist"))

    def approve_view(self, request, object_id):
        return self._decide(
            request,
            object_id,
            services.refill_request_approve,
            _(
                "Refill approved. The patient is told, and reads your answer with the "
                "medication in their health record."
            ),
        )

    def decline_view(self, request, object_id):
        return self._decide(
            request,
            object_id,
            services.refill_request_decline,
            _(
                "Refill declined. The patient is told, and reads your answer with the "
                "medication in their health record."
            ),
        )
