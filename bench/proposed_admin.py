"""The patient admin with three changes for clinics with a million charts (bench only).

bench/scale.py times the admin as it is, then with this subclass in its place, so the
admin's owners can see what each change buys before taking it into patients/admin.py and
clinics/scoped_admin.py. Nothing in the product imports this module.

1. Search: an ID number is looked up first (normalised, an index probe on the clinic's
   identifiers); otherwise every word must match a first or last name, or the whole term
   an email (trigram-indexed ``icontains``). The stock search ORs the name columns with
   ``identifiers__number`` across a join, which no index can serve, and then has to
   de-duplicate and count the result with ``DISTINCT`` over every column.
2. ``show_full_result_count = False``: no second ``COUNT(*)`` over every chart of the
   clinic on each page.
3. Related filters list the clinic's own providers and categories instead of the values
   that occur among the charts (``RelatedOnlyFieldListFilter`` runs a ``DISTINCT`` over
   every chart, once per filter, on every changelist page).
4. Pagination takes PostgreSQL's row estimate instead of ``COUNT(*)`` when the estimate
   is over 50,000 (the unfiltered list of a big clinic): counting a million index entries
   costs about 50 ms on every page; smaller lists, and every search, are counted exactly.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.utils.functional import cached_property

from patients.admin import PatientAdmin
from patients.models import PatientIdentifier


class ClinicChoicesFilter(admin.RelatedFieldListFilter):
    """The clinic's own rows as choices: one small query, whatever the number of charts."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False,
            ordering=ordering,
            limit_choices_to={"clinic": request.clinic},
        )


class EstimatedCountPaginator(Paginator):
    """Exact below ``EXACT_UP_TO`` estimated rows; the planner's estimate above."""

    EXACT_UP_TO = 50_000

    @cached_property
    def count(self):
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return super().count
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            estimate = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
        return estimate if estimate > self.EXACT_UP_TO else super().count


class ProposedPatientAdmin(PatientAdmin):
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_list_filter(self, request):
        return [
            (item[0], ClinicChoicesFilter)
            if isinstance(item, tuple) and item[1] is admin.RelatedOnlyFieldListFilter
            else item
            for item in super().get_list_filter(request)
        ]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        number = PatientIdentifier.normalise(term)
        if any(ch.isdigit() for ch in number):
            charts = list(
                PatientIdentifier.objects.for_clinic(request.clinic)
                .filter(number=number)
                .values_list("patient_id", flat=True)[:100]
            )
            if charts:
                return queryset.filter(pk__in=charts), False
        names = Q()
        for word in term.split():
            names &= Q(last_name__icontains=word) | Q(first_name__icontains=word)
        return queryset.filter(names | Q(email__icontains=term)), False
