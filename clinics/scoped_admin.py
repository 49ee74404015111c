"""The clinic-scoped ModelAdmin every model in the clinic admin uses.

Changelists, change views, search, actions, list filters and FK/M2M choices see only
the staff member's clinic (``request.clinic``, resolved from the host). ``clinic`` is
never a form field: it is set on save. A row of another clinic is a 404.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinics.scoping import is_clinic_scoped
from portal.core.phones import ClinicPhoneFormMixin, PhoneDisplayAdminMixin


class PendingFirstFilter(admin.SimpleListFilter):
    """A queue of patients' requests by status, opening on those waiting. A queue names
    its ``statuses`` (a ``TextChoices`` with ``PENDING``)."""

    title = gettext_lazy("status")
    parameter_name = "status"
    statuses = None

    def lookups(self, request, model_admin):
        return [*self.statuses.choices, ("all", gettext_lazy("All"))]

    def choices(self, changelist):
        value = self.value() or self.statuses.PENDING
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or self.statuses.PENDING
        if value == "all":
            return queryset
        if value not in self.statuses.values:
            raise IncorrectLookupParameters(value)
        return queryset.filter(status=value)


def scoped_choices(model, clinic):
    """The rows of ``model`` a form in ``clinic``'s admin may offer, or None if unscoped."""
    if is_clinic_scoped(model):
        return model._default_manager.filter(clinic=clinic)
    return None


class ClinicScopedModelForm(ClinicPhoneFormMixin, forms.ModelForm):
    """Sets the instance's clinic before validation so per-clinic unique constraints
    are checked as form errors rather than failing at the database. Phone numbers are
    read and shown with the clinic's country (``portal.core.phones``)."""

    clinic = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.clinic is not None and not self.instance.clinic_id:
            self.instance.clinic = self.clinic

    def _get_validation_exclusions(self):
        exclusions = super()._get_validation_exclusions()
        exclusions.discard("clinic")
        return exclusions


def _bind_form(form_class, clinic):
    return type(form_class.__name__, (form_class,), {"clinic": clinic})


class ClinicChoicesFilter(admin.RelatedFieldListFilter):
    """A related filter listing the clinic's own rows (providers, categories...).

    One small query whatever the size of the changelist, where Django's
    ``RelatedOnlyFieldListFilter`` runs a ``DISTINCT`` over every row of the list.
    """

    def field_choices(self, field, request, model_admin):
        return field.get_choices(
            include_blank=False,
            ordering=self.field_admin_ordering(field, request, model_admin),
            limit_choices_to={"clinic": request.clinic},
        )


class BoundedCountPaginator(Paginator):
    """Counts exactly up to ``EXACT_UP_TO`` rows; above, PostgreSQL's estimate.

    A clinic's unfiltered list of a million charts or ten million appointments would
    otherwise pay for a full ``COUNT(*)`` on every page. The bounded count reads at most
    ``EXACT_UP_TO + 1`` rows; every search and most filtered lists are smaller and are
    counted exactly. Other databases always count exactly.
    """

    EXACT_UP_TO = 50_000

    @cached_property
    def count(self):
        queryset = self.object_list
        if not hasattr(queryset, "query"):
            return super().count
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return super().count
        unordered = queryset.order_by()
        bounded = unordered[: self.EXACT_UP_TO + 1].count()
        if bounded <= self.EXACT_UP_TO:
            return bounded
        sql, params = unordered.query.get_compiler(using=queryset.db).as_sql()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            estimate = int(cursor.fetchone()[0][0]["Plan"]["Plan Rows"])
        return max(estimate, bounded)


class ClinicScopedMixin:
    clinic_field = "clinic"
    form = ClinicScopedModelForm

    def get_queryset(self, request):
        return super().get_queryset(request).filter(clinic=request.clinic)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        return [*exclude, self.clinic_field]

    def get_readonly_fields(self, request, obj=None):
        return [f for f in super().get_readonly_fields(request, obj) if f != self.clinic_field]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        queryset = scoped_choices(db_field.related_model, request.clinic)
        if queryset is not None:
            kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        queryset = scoped_choices(db_field.related_model, request.clinic)
        if queryset is not None:
            kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ClinicScopedAdmin(PhoneDisplayAdminMixin, ClinicScopedMixin, admin.ModelAdmin):
    # No second COUNT(*) over the clinic's whole table on every changelist page.
    show_full_result_count = False
    paginator = BoundedCountPaginator
    # Half of Django's 100: each row renders its own checkbox widget and links, which is
    # most of a changelist's time (bench/scale.py); staff search rather than page.
    list_per_page = 50

    def get_form(self, request, obj=None, **kwargs):
        return _bind_form(super().get_form(request, obj, **kwargs), request.clinic)

    def get_list_filter(self, request):
        # A plain related filter would list every clinic's rows: offer the clinic's own
        # (or, for a model that belongs to no clinic, only values in this changelist).
        filters = []
        for item in super().get_list_filter(request):
            related = self._related_model(item) if isinstance(item, str) else None
            if related is None:
                filters.append(item)
            elif is_clinic_scoped(related):
                filters.append((item, ClinicChoicesFilter))
            else:
                filters.append((item, admin.RelatedOnlyFieldListFilter))
        return filters

    def _related_model(self, name):
        if "__" in name:
            return None
        field = self.model._meta.get_field(name)
        return field.related_model if field.is_relation else None

    def save_model(self, request, obj, form, change):
        if not change:
            obj.clinic = request.clinic
        elif obj.clinic_id != request.clinic.pk:
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for instance in instances:
            if is_clinic_scoped(type(instance)) and not instance.clinic_id:
                instance.clinic = request.clinic
            instance.save()
        formset.save_m2m()

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index with "doesn't exist"; a plain 404 says the same
        # for another clinic's row and a missing one.
        raise Http404


class ClinicScopedInline(ClinicScopedMixin, admin.TabularInline):
    extra = 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = _bind_form(formset.form, request.clinic)
        return formset


class ReadOnlyAdminMixin:
    """For records nobody edits in the admin (notifications, audit events)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ChangeHistoryMixin:
    """The admin's History page as field-by-field changes (``portal.core.history``)
    instead of Django's log of admin actions. ``history_changes(request, obj)`` says
    which changes belong to the row."""

    history_template = "admin/portal_history.html"

    def history_changes(self, request, obj):
        raise NotImplementedError

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": _("History: %s") % obj,
            "subtitle": None,
            "opts": self.model._meta,
            "object": obj,
            "changes": self.history_changes(request, obj),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.history_template, context)
