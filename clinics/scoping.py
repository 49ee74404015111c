"""The clinic-scoped queryset every clinic-owned model uses.

Reads of clinic-owned rows go through ``Model.objects.for_clinic(clinic)``; a row of
another clinic is then simply not found (a 404, never a 403 that confirms it exists).
"""

from django.db import models


class ClinicScopedQuerySet(models.QuerySet):
    def for_clinic(self, clinic):
        if clinic is None:
            return self.none()
        clinic_id = clinic if isinstance(clinic, int) else clinic.pk
        return self.filter(clinic_id=clinic_id)


class ClinicScopedManager(models.Manager.from_queryset(ClinicScopedQuerySet)):
    pass


class ClinicOwned(models.Model):
    """Abstract base for every row that belongs to one clinic."""

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.CASCADE, related_name="+")

    objects = ClinicScopedManager()

    class Meta:
        abstract = True


def is_clinic_scoped(model):
    return hasattr(model, "_meta") and any(
        f.name == "clinic" and f.is_relation for f in model._meta.get_fields()
    )
