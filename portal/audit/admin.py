"""The audit log in both admins: readable action names, a filter by action and by a range
of dates, and a CSV export of exactly what the list shows (itself audited). Clinic staff
see and export only their clinic's events (``ClinicScopedAdmin``)."""

import csv
import datetime as dt

from django import forms
from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from clinics.admin_site import clinic_admin_site, platform_admin_site
from clinics.scoped_admin import ClinicScopedAdmin, ReadOnlyAdminMixin
from portal.audit.actions import ACTION_LABELS, action_label
from portal.audit.models import AuditEvent
from portal.audit.services import audit_record

_LIST = [
    "created_at",
    "action_name",
    "actor_label",
    "acting_for",
    "object_kind",
    "object_id",
    "ip",
]


class ActionFilter(admin.SimpleListFilter):
    """By action, in words; every known action is offered (no query over the log)."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return sorted(((code, str(label)) for code, label in ACTION_LABELS.items()), key=_second)

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action=self.value())
        return queryset


def _second(pair):
    return pair[1].casefold()


class _DateRangeForm(forms.Form):
    since = forms.DateField(required=False)
    until = forms.DateField(required=False)


class DateRangeFilter(admin.FieldListFilter):
    """From one day to another (both included, in the clinic's time zone), as a small
    form that works without JavaScript."""

    template = "admin/audit/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.since_name = f"{field_path}__since"
        self.until_name = f"{field_path}__until"
        super().__init__(field, request, params, model, model_admin, field_path)
        values = {
            "since": _last(self.used_parameters.get(self.since_name)),
            "until": _last(self.used_parameters.get(self.until_name)),
        }
        self.form = _DateRangeForm(values)
        self.range = self.form.cleaned_data if self.form.is_valid() else {}

    def expected_parameters(self):
        return [self.since_name, self.until_name]

    def queryset(self, request, queryset):
        since, until = self.range.get("since"), self.range.get("until")
        if since:
            queryset = queryset.filter(**{f"{self.field_path}__gte": _day_start(since)})
        if until:
            end = _day_start(until + dt.timedelta(days=1))
            queryset = queryset.filter(**{f"{self.field_path}__lt": end})
        return queryset

    def choices(self, changelist):
        kept = [
            (name, value)
            for name, values in changelist.params.items()
            if name not in (self.since_name, self.until_name) and name != "p"
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "selected": bool(self.range.get("since") or self.range.get("until")),
            "since_name": self.since_name,
            "until_name": self.until_name,
            "since": self.range.get("since") or "",
            "until": self.range.get("until") or "",
            "kept": kept,
            "clear": changelist.get_query_string(remove=[self.since_name, self.until_name]),
        }


def _last(value):
    if isinstance(value, list | tuple):
        return value[-1] if value else None
    return value


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _csv_cell(value) -> str:
    """A cell a spreadsheet will not read as a formula (names are typed by people)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value):
        return value


class AuditLogAdmin(ReadOnlyAdminMixin):
    """What both admins share: the list, its filters and the export."""

    list_filter = [("created_at", DateRangeFilter), ActionFilter]
    search_fields = ["actor_label", "object_id", "action"]
    date_hierarchy = "created_at"
    change_list_template = "admin/audit/auditevent/change_list.html"
    export_columns = [
        (_("time"), lambda e: e.created_at.astimezone(timezone.get_current_timezone()).isoformat()),
        (_("action"), lambda e: action_label(e.action)),
        (_("action code"), lambda e: e.action),
        (_("actor name"), lambda e: e.actor_label),
        (_("actor id"), lambda e: e.actor_id),
        (_("for patient (id)"), lambda e: e.acting_for_id),
        (_("object type"), lambda e: e.object_type),
        (_("object id"), lambda e: e.object_id),
        (_("IP address"), lambda e: e.ip),
    ]

    @admin.display(description=_("action"), ordering="action")
    def action_name(self, obj):
        return action_label(obj.action)

    @admin.display(description=_("object type"), ordering="object_type")
    def object_kind(self, obj):
        """``patients.patient`` as the model's name ("patient")."""
        if not obj.object_type:
            return ""
        try:
            return capfirst(apps.get_model(obj.object_type)._meta.verbose_name)
        except (LookupError, ValueError):
            return obj.object_type

    def get_exclude(self, request, obj=None):
        # The detail page shows the codes as words (the readonly fields below).
        return [*(super().get_exclude(request, obj) or []), "action", "object_type"]

    def get_readonly_fields(self, request, obj=None):
        return ["action_name", "object_kind", *super().get_readonly_fields(request, obj)]

    def get_urls(self):
        opts = self.model._meta
        export = self.admin_site.admin_view(self.export_view)
        name = f"{opts.app_label}_{opts.model_name}_export"
        return [path("export/", export, name=name), *super().get_urls()]

    def export_view(self, request):
        """The events the list shows with the same filters and search, every page of
        them, as CSV. The export itself is an audit event (with its row count and date
        range, never the search typed)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        events = changelist.get_queryset(request)
        count = events.count()
        since, until = _date_range_of(changelist)
        exported = audit_record(
            action="audit.exported",
            request=request,
            clinic=getattr(request, "clinic", None),
            details={"rows": count, "since": since, "until": until},
        )
        events = events.exclude(pk=exported.pk)  # the export is not part of itself
        columns = self.get_export_columns()
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow([str(title) for title, _value in columns])
            for event in events.iterator(chunk_size=2000):
                yield writer.writerow([_csv_cell(value(event)) for _title, value in columns])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response

    def get_export_columns(self):
        return self.export_columns


def _date_range_of(changelist):
    for spec in changelist.filter_specs:
        if isinstance(spec, DateRangeFilter):
            return (
                str(spec.range.get("since") or "") or None,
                str(spec.range.get("until") or "") or None,
            )
    return None, None


@admin.register(AuditEvent, site=clinic_admin_site)
class AuditEventAdmin(AuditLogAdmin, ClinicScopedAdmin):
    list_display = _LIST
    list_select_related = ["acting_for"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("audit.view_auditevent")


@admin.register(AuditEvent, site=platform_admin_site)
class PlatformAuditEventAdmin(AuditLogAdmin, admin.ModelAdmin):
    list_display = ["clinic", *_LIST]
    list_filter = ["clinic", *AuditLogAdmin.list_filter]
    list_select_related = ["clinic", "acting_for"]

    def get_export_columns(self):
        return [(_("clinic"), lambda e: e.clinic_id), *self.export_columns]
