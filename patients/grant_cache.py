"""An account's live grants, kept in the shared cache so signed-in pages skip the query.

Every signed-in page checks the account's grants (``selectors.usable_grants``). The rows
it needs (not revoked, with the chart and its category) change only when a grant, a
chart or a category is written, so they are kept under ``clinic:<id>:grants:<user id>``
and dropped on every such write:

- ``post_save`` / ``post_delete`` of a grant, a chart or a category (this covers the
  admin, the services and cascades), connected in ``PatientsConfig.ready`` so that
  writes in web processes, Celery workers and management commands all count;
- ``QuerySet.update()`` on grants, charts and categories (revocation ends grants that
  way), which sends no model signal: their querysets (``portal.core.cache.ReportsUpdates``;
  the charts' is also their base manager, which cascades use) send ``rows_updated``.

An entry is invalidated at once and again when the transaction commits, and a request
that read the old rows before the commit cannot store them as current (``read_through``
keeps each entry with the generation it was read under). Everything that depends on the clock
(expiry, the age threshold) is worked out from the rows at each request, never cached;
every entry also expires after ``TIMEOUT`` seconds. Access is never widened by this
cache: a missed drop could only keep a grant visible until the entry expires, which is
why every write path above is covered by tests (tests/patients/test_grant_cache.py).
"""

from django.db.models.signals import pre_delete

from clinics import prefetch
from patients.models import Patient, PatientAccess, PatientCategory
from portal.core.cache import (
    clinic_cache_key,
    drop_now_and_at_commit,
    drop_on_update,
    drop_on_write,
    read_through,
    read_through_keys,
    schema_tag,
)

TIMEOUT = 300


def _key(clinic_id, user_id):
    return clinic_cache_key(clinic_id, "grants", user_id)


def live_grants(*, clinic, user) -> list:
    """The account's grants that are not revoked, with chart and category, oldest first."""
    return read_through(
        _key(clinic.pk, user.pk),
        lambda: list(
            PatientAccess.objects.for_clinic(clinic)
            .filter(user=user, revoked_at__isnull=True)
            .select_related("patient__category")
            .order_by("created_at")
        ),
        timeout=TIMEOUT,
        tag=schema_tag(PatientAccess, Patient, PatientCategory),
    )


def prefetch_keys(request, found) -> list[str]:
    """The keys ``live_grants`` will read for the signed-in account at the request's
    clinic, as far as the host and the session tell them (``portal.core.prefetch``)."""
    clinic_id = prefetch.hinted_clinic_id(request)
    user_id = prefetch.signed_in_user_id(request, found)
    if clinic_id is None or user_id is None:
        return []
    return read_through_keys(_key(clinic_id, user_id))


def forget_grants(pairs):
    """Drop the entries of ``(clinic_id, user_id)`` pairs, now and again at commit."""
    drop_now_and_at_commit(_key(clinic_id, user_id) for clinic_id, user_id in pairs)


def forget_grants_of_charts(patient_ids):
    """Drop the entries of every account with a grant to one of these charts."""
    forget_grants(
        PatientAccess.objects.filter(patient_id__in=list(patient_ids))
        .values_list("clinic_id", "user_id")
        .distinct()
    )


def _grant_written(sender, instance, **kwargs):
    forget_grants([(instance.clinic_id, instance.user_id)])


def _chart_written(sender, instance, created=False, **kwargs):
    if created:
        return  # a new chart has no grants yet (nothing to look up: imports make thousands)
    forget_grants_of_charts([instance.pk])


def forget_grants_of_categories(category_ids):
    """Drop the entries of every account with a grant to a chart in these categories."""
    forget_grants(
        PatientAccess.objects.filter(patient__category_id__in=list(category_ids))
        .values_list("clinic_id", "user_id")
        .distinct()
    )


def _category_written(sender, instance, **kwargs):
    forget_grants_of_categories([instance.pk])


def _grants_updated(sender, rows, **kwargs):
    forget_grants({(row["clinic_id"], row["user_id"]) for row in rows})


def _charts_updated(sender, rows, **kwargs):
    forget_grants_of_charts(row["pk"] for row in rows)


def _categories_updated(sender, rows, **kwargs):
    forget_grants_of_categories(row["pk"] for row in rows)


def connect_receivers():
    drop_on_update(_grants_updated, PatientAccess, uid="grants")
    drop_on_update(_charts_updated, Patient, uid="grants")
    drop_on_update(_categories_updated, PatientCategory, uid="grants")
    drop_on_write(_grant_written, PatientAccess, uid="grants")
    drop_on_write(_chart_written, Patient, uid="grants")
    drop_on_write(_category_written, PatientCategory, uid="grants")
    # A deleted category's charts are set to no category before post_delete is sent.
    pre_delete.connect(
        _category_written, sender=PatientCategory, dispatch_uid="grants-category-deleting"
    )
