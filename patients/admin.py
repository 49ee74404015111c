from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, When
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clinics.admin_site import clinic_admin_site
from clinics.models import IdentifierType
from clinics.scoped_admin import (
    ChangeHistoryMixin,
    ClinicScopedAdmin,
    ClinicScopedInline,
    ClinicScopedModelForm,
    ReadOnlyAdminMixin,
)
from patients import chart_import, demographics, history, selectors, services
from patients.accounts import grant_scopes_set
from patients.forms import ChartFileForm, ChartImportConfirmForm, GrantScopesForm
from patients.locks import signin_lock_unlock
from patients.models import (
    ChangeRequest,
    Patient,
    PatientAccess,
    PatientCategory,
    PatientIdentifier,
    SignInLock,
    VerificationRequest,
)
from portal.audit.services import audit_record


class PatientIdentifierInline(ClinicScopedInline):
    model = PatientIdentifier
    fields = ["id_type", "number"]


SCOPE_LABELS = {
    "appointments": _("Appointments"),
    "messages": _("Messages"),
    "demographics": _("Demographics"),
    "health_record": _("Health record"),
}


def _granted_scopes(grant: PatientAccess) -> list:
    """The scopes staff ticked on a representative's grant (the patient's own: none
    listed, it covers everything)."""
    if not grant.acts_for_someone_else:
        return []
    return [SCOPE_LABELS[s] for s in PatientAccess.SCOPES if getattr(grant, f"can_{s}")]


class PatientAdminForm(ClinicScopedModelForm):
    class Meta:
        model = Patient
        fields = "__all__"


@admin.register(Patient, site=clinic_admin_site)
class PatientAdmin(ChangeHistoryMixin, ClinicScopedAdmin):
    """The chart. ``invitations.admin`` registers a subclass with the portal-access tools
    (Send Portal Registration, Quick Add, …) in its place. Its History page lists every
    recorded change to the chart and its rows, old → new (``patients.history``)."""

    def history_changes(self, request, obj):
        return history.chart_history(clinic=request.clinic, patient=obj)

    form = PatientAdminForm
    list_display = ["__str__", "date_of_birth", "status", "primary_provider"]
    list_filter = ["status", "self_registered", "category", "primary_provider"]
    list_select_related = ["primary_provider"]
    # Searched by ``get_search_results`` (selectors.search_charts); listed so that the
    # admin shows its search box and other admins may autocomplete charts.
    search_fields = ["last_name", "first_name", "email"]
    search_help_text = _(
        "Search by name, email, ID number, phone (613 555 0112) or date of birth "
        "(1958-03-14, 14/03/1958, March 14 1958)."
    )
    inlines = [PatientIdentifierInline]
    readonly_fields = ["portal_status"]

    def get_search_results(self, request, queryset, search_term):
        return selectors.search_charts(queryset, search_term, clinic=request.clinic), False

    fieldsets = [
        (
            None,
            {"fields": ["first_name", "last_name", "date_of_birth", "sex", "status", "category"]},
        ),
        (_("Contact"), {"fields": ["email", "mobile", "preferred_language"]}),
        (
            _("Address"),
            {"fields": ["address_line1", "address_line2", "city", "region", "postal_code"]},
        ),
        (_("Care"), {"fields": ["primary_provider"]}),
        (_("Portal accounts"), {"fields": ["portal_status"]}),
    ]

    @admin.display(description=_("Accounts with access"))
    def portal_status(self, obj):
        if obj.pk is None:
            return "—"
        grants = (
            PatientAccess.objects.for_clinic(obj.clinic_id)
            .filter(patient=obj)
            .select_related("user")
            .order_by("-created_at")
        )
        users = [g.user for g in grants]
        locks = {
            lock.user_id: lock
            for lock in SignInLock.objects.for_clinic(obj.clinic_id).filter(user__in=users)
        }
        rows = [(g, locks.get(g.user_id), _granted_scopes(g)) for g in grants]
        return render_to_string("admin/patients/_portal_status.html", {"rows": rows})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="patients_patient_import"),
            path(
                "<int:object_id>/portal/access/<int:grant_id>/",
                wrap(self.grant_scopes_view),
                name="patients_patient_grant_scopes",
            ),
            path(
                "import/template.csv",
                wrap(self.import_template_view),
                name="patients_patient_import_template",
            ),
            *super().get_urls(),
        ]

    # --- Import charts (CSV): the rules are in patients.chart_import and services ------

    def _may_import(self, request):
        if not request.user.has_perm("patients.import_charts"):
            raise PermissionDenied

    def _import_page(self, request, *, status=200, **context):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import charts (CSV)"),
            "columns": chart_import.COLUMNS,
            "id_types": IdentifierType.objects.for_clinic(request.clinic).filter(is_active=True),
            "max_rows": chart_import.MAX_ROWS,
            "max_megabytes": chart_import.MAX_BYTES // (1024 * 1024),
            "preview_minutes": chart_import.PREVIEW_SECONDS // 60,
            "upload_form": ChartFileForm(),
            **context,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/patients/patient/import.html", context, status=status
        )

    def _preview(self, request, content, plan, **context):
        digest = chart_import.preview_keep(
            clinic=request.clinic, user=request.user, content=content, plan=plan
        )
        return self._import_page(
            request,
            plan=plan,
            counts=plan.counts(),
            confirm_form=ChartImportConfirmForm(initial={"digest": digest}),
            **context,
        )

    def import_view(self, request):
        """Upload → preview (writes nothing) → confirm (imports the previewed file only)."""
        self._may_import(request)
        if request.method != "POST":
            return self._import_page(request)
        if "digest" in request.POST:
            return self._import_confirm(request)
        upload = ChartFileForm(request.POST, request.FILES)
        if not upload.is_valid():
            return self._import_page(request, upload_form=upload)
        plan = chart_import.chart_import_plan(clinic=request.clinic, rows=upload.rows)
        return self._preview(request, upload.cleaned_data["file"], plan)

    def _import_confirm(self, request):
        form = ChartImportConfirmForm(request.POST)
        digest = form.cleaned_data["digest"] if form.is_valid() else ""
        kept = chart_import.preview_load(clinic=request.clinic, user=request.user, digest=digest)
        sent = request.FILES.get("file")
        # A file sent with the confirmation must be the one previewed.
        if sent is not None and chart_import.upload_digest(sent) != digest:
            kept = None
        if not kept:
            return self._import_page(
                request,
                status=400,
                refused=_(
                    "Nothing was imported: this is not a file you previewed in the last "
                    "%(minutes)s minutes. Upload the file again to see its preview."
                )
                % {"minutes": chart_import.PREVIEW_SECONDS // 60},
            )
        content, promised = kept
        plan = chart_import.chart_import_plan(
            clinic=request.clinic, rows=chart_import.read_chart_file(content)
        )
        if plan.digest() != promised:
            return self._preview(
                request,
                content,
                plan,
                refused=_(
                    "Nothing was imported: the clinic's charts changed since the preview. "
                    "Check the preview below and import again."
                ),
            )
        try:
            created = services.charts_import(
                clinic=request.clinic, plan=plan, imported_by=request.user, request=request
            )
        except services.ImportRaced as raced:
            plan = chart_import.chart_import_plan(
                clinic=request.clinic, rows=chart_import.read_chart_file(content)
            )
            return self._preview(
                request,
                content,
                plan,
                refused=_(
                    "Nothing was imported: the ID on row %(row)s was given to another chart "
                    "meanwhile. Check the preview below and import again."
                )
                % {"row": raced.row_number},
            )
        chart_import.preview_drop(clinic=request.clinic, user=request.user, digest=digest)
        messages.success(
            request,
            ngettext(
                "%(count)d chart imported at %(time)s.",
                "%(count)d charts imported at %(time)s.",
                created,
            )
            % {
                "count": created,
                "time": formats.date_format(timezone.localtime(), "SHORT_DATETIME_FORMAT"),
            },
        )
        return redirect(reverse(f"{self.admin_site.name}:patients_patient_changelist"))

    def import_template_view(self, request):
        self._may_import(request)
        first_type = (
            IdentifierType.objects.for_clinic(request.clinic)
            .filter(is_active=True)
            .values_list("code", flat=True)
            .first()
        )
        # A byte-order mark, so that spreadsheets open it as UTF-8.
        text = "\ufeff" + chart_import.template_csv(id_type_code=first_type or "health-card")
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="charts-import-template.csv"'
        return response

    # --- What a representative may see (the grant's scopes) ---------------------------

    def grant_scopes_view(self, request, object_id, grant_id):
        """Staff tick what a representative's live grant to this chart covers."""
        if not request.user.has_perm("patients.change_patientaccess"):
            raise PermissionDenied
        patient = self.get_object(request, str(object_id))
        if patient is None:
            raise Http404
        grant = (
            PatientAccess.objects.for_clinic(request.clinic)
            .active()
            .filter(pk=grant_id, patient=patient)
            .exclude(relationship=PatientAccess.Relationship.SELF)
            .select_related("user", "patient")
            .first()
        )
        if grant is None:
            raise Http404
        form = GrantScopesForm(request.POST or None, grant=grant)
        if request.method == "POST" and form.is_valid():
            grant_scopes_set(
                grant=grant, scopes=form.scopes(), changed_by=request.user, request=request
            )
            messages.success(
                request,
                _("Saved what %(person)s may see for %(patient)s.")
                % {"person": grant.user, "patient": patient},
            )
            return redirect(
                reverse(f"{self.admin_site.name}:patients_patient_change", args=[patient.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "patient": patient,
            "grant": grant,
            "form": form,
            "title": _("What this representative may see"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/patients/patient/grant_scopes.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and getattr(response, "status_code", None) == 200:
            patient = self.get_object(request, object_id)
            if patient is not None:
                audit_record(
                    action="patient.viewed", request=request, obj=patient, acting_for=patient
                )
        return response


@admin.register(PatientCategory, site=clinic_admin_site)
class PatientCategoryAdmin(ClinicScopedAdmin):
    list_display = ["name", "portal_eligible"]


@admin.register(SignInLock, site=clinic_admin_site)
class SignInLockAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    """Accounts (or ID + contact pairs) whose sign-in is paused or locked."""

    list_display = [
        "__str__",
        "failures",
        "last_method",
        "locked_until",
        "hard_locked",
        "updated_at",
    ]
    list_filter = ["hard_locked", "last_method"]
    list_select_related = ["user"]
    actions = ["unlock"]
    # ``last_method`` says why: wrong codes, passwords or authenticator codes.
    fields = ["user", "failures", "last_method", "locked_until", "hard_locked", "updated_at"]

    def has_change_permission(self, request, obj=None):
        # Unlocking is the only change, done through the action.
        return request.user.has_perm("patients.change_signinlock")

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    @admin.action(description=_("Unlock sign-in"), permissions=["change"])
    def unlock(self, request, queryset):
        for lock in queryset:
            signin_lock_unlock(lock=lock, unlocked_by=request.user, request=request)
        messages.success(
            request,
            ngettext(
                "%(count)d sign-in unlocked at %(time)s.",
                "%(count)d sign-ins unlocked at %(time)s.",
                queryset.count(),
            )
            % {
                "count": queryset.count(),
                "time": formats.date_format(timezone.localtime(), "SHORT_DATETIME_FORMAT"),
            },
        )


@admin.register(VerificationRequest, site=clinic_admin_site)
class VerificationRequestAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    """People who proved a contact that differs from the chart's: Accept or Decline."""

    list_display = ["patient", "channel", "destination", "status", "created_at", "decided_by"]
    phone_fields = ("destination",)
    list_filter = ["status"]
    list_select_related = ["patient", "decided_by"]
    actions = ["accept", "decline"]
    fields = [
        "patient",
        "channel",
        "destination",
        "status",
        "created_at",
        "decided_at",
        "decided_by",
    ]

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("patients.change_verificationrequest")

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def _decide(self, request, queryset, decide, done_message):
        done = sum(
            decide(request=request, verification=v, decided_by=request.user) for v in queryset
        )
        skipped = queryset.count() - done
        messages.success(request, done_message % {"count": done, "skipped": skipped})

    @admin.action(description=_("Accept"), permissions=["change"])
    def accept(self, request, queryset):
        self._decide(
            request,
            queryset,
            demographics.verification_accept,
            _("%(count)d accepted; %(skipped)d were already decided."),
        )

    @admin.action(description=_("Decline"), permissions=["change"])
    def decline(self, request, queryset):
        self._decide(
            request,
            queryset,
            demographics.verification_decline,
            _("%(count)d declined and told; %(skipped)d were already decided."),
        )


@admin.register(ChangeRequest, site=clinic_admin_site)
class PatientRequestAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    """Patient Requests: changes of details, new registrations, identity confirmations.

    Pending first. Staff Accept all, Decline all with a reason, or decide per field;
    nothing reaches the chart except through ``change_request_decide``.
    """

    list_display = ["created_at", "kind", "patient", "status", "fields_asked"]
    list_filter = ["status", "kind"]
    list_select_related = ["patient"]
    search_fields = ["patient__last_name", "patient__first_name"]
    change_form_template = "admin/patients/changerequest/change_form.html"

    def get_queryset(self, request):
        pending_first = Case(When(status=ChangeRequest.Status.PENDING, then=0), default=1)
        return (
            super()
            .get_queryset(request)
            .annotate(pending_first=pending_first, fields_count=Count("items"))
            .order_by("pending_first", "-created_at")
        )

    @admin.display(description=_("fields"))
    def fields_asked(self, obj):
        return obj.fields_count

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("patients.change_changerequest")

    def get_urls(self):
        return [
            path(
                "<int:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="patients_changerequest_decide",
            ),
            path(
                "<int:object_id>/link/",
                self.admin_site.admin_view(self.link_view),
                name="patients_changerequest_link",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        change_request = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if change_request is not None:
            patient = change_request.patient
            rows = []
            for item in change_request.items.all():
                now = demographics.as_text(getattr(patient, item.field, ""))
                rows.append(
                    {
                        "item": item,
                        "label": demographics.field_label(item.field),
                        "now": demographics.display_value(item.field, now),
                        "asked_over": demographics.display_value(item.field, item.old_value),
                        "proposed": demographics.display_value(item.field, item.new_value),
                        "conflict": change_request.kind == ChangeRequest.Kind.CHANGE
                        and now not in (item.old_value, item.new_value),
                    }
                )
            extra_context.update(rows=rows, change_request=change_request)
            if change_request.kind == ChangeRequest.Kind.REGISTRATION:
                typed_ids, duplicates = selectors.registration_details(
                    clinic=request.clinic, change_request=change_request
                )
                extra_context.update(typed_ids=typed_ids, duplicates=duplicates)
        return super().change_view(request, object_id, form_url, extra_context)

    def link_view(self, request, object_id):
        """ "Link to this chart instead": a confirmation page (GET), then the link (POST)
        through ``demographics.registration_link_to_chart``."""
        change_request = self.get_object(request, str(object_id))
        if change_request is None:
            raise Http404
        if not self.has_change_permission(request, change_request):
            raise PermissionDenied
        back = reverse(
            f"{self.admin_site.name}:patients_changerequest_change", args=[change_request.pk]
        )
        source = request.POST if request.method == "POST" else request.GET
        try:
            chart_id = int(source.get("chart", ""))
        except ValueError:
            # No chart chosen: back to the request, where the duplicates are listed.
            return redirect(back)
        chart = selectors.chart_for_clinic(clinic=request.clinic, pk=chart_id)
        if request.method == "POST":
            try:
                demographics.registration_link_to_chart(
                    request=request,
                    change_request=change_request,
                    chart_id=chart.pk,
                    decided_by=request.user,
                )
            except demographics.CannotLink as refused:
                messages.error(request, refused.reason)
                return redirect(back)
            except demographics.AlreadyDecided:
                messages.warning(request, _("Someone already decided this request."))
                return redirect(back)
            messages.success(
                request,
                _("The registration is linked to %(chart)s at %(time)s.")
                % {
                    "chart": chart,
                    "time": formats.date_format(timezone.localtime(), "SHORT_DATETIME_FORMAT"),
                },
            )
            return redirect(reverse(f"{self.admin_site.name}:patients_changerequest_changelist"))
        typed_ids, duplicates = selectors.registration_details(
            clinic=request.clinic, change_request=change_request
        )
        duplicate = next((d for d in duplicates if d.chart.pk == chart.pk), None)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Link to this chart instead"),
            "opts": self.model._meta,
            "change_request": change_request,
            "registration": change_request.patient,
            "chart": chart,
            "typed_ids": typed_ids,
            "reasons": duplicate.reasons if duplicate else [],
            "refusal": selectors.link_refusal(
                registration=change_request.patient,
                account=change_request.requested_by,
                chart=chart,
            )
            if change_request.requested_by is not None
            else selectors.NOT_A_REGISTRATION,
            "pending": change_request.is_pending,
            "back": back,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/patients/changerequest/link_confirm.html", context)

    def decide_view(self, request, object_id):
        change_request = self.get_object(request, str(object_id))
        if change_request is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, change_request):
            raise PermissionDenied
        decision = request.POST.get("decision")
        all_fields = {i.field for i in change_request.items.all()}
        accept = {
            "accept_all": all_fields or {"*"},
            "accept_selected": set(request.POST.getlist("accept")) & all_fields,
        }.get(decision, set())
        try:
            decided = demographics.change_request_decide(
                request=request,
                change_request=change_request,
                decided_by=request.user,
                accept=accept,
                overwrite=set(request.POST.getlist("overwrite")),
                # PostgreSQL cannot store NUL characters in text.
                decline_reason=request.POST.get("reason", "").replace("\x00", ""),
            )
        except demographics.ChartChanged as changed:
            messages.error(
                request,
                _(
                    "The chart changed since the patient asked (%(fields)s). Nothing was applied: "
                    "tick “apply anyway” for the values that should win, or leave them out."
                )
                % {"fields": ", ".join(c.label for c in changed.conflicts)},
            )
            return redirect(
                reverse(
                    f"{self.admin_site.name}:patients_changerequest_change",
                    args=[change_request.pk],
                )
            )
        except demographics.AlreadyDecided:
            messages.warning(request, _("Someone already decided this request."))
        else:
            messages.success(
                request,
                _("%(request)s: %(status)s at %(time)s.")
                % {
                    "request": decided,
                    "status": decided.get_status_display(),
                    "time": formats.date_format(timezone.localtime(), "SHORT_DATETIME_FORMAT"),
                },
            )
        return redirect(reverse(f"{self.admin_site.name}:patients_changerequest_changelist"))
