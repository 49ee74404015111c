from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = _("Patients")

    def ready(self):
        # Imported here: these use the models, which load after the app registry.
        # Importing ``notifications`` registers its builders.
        from patients import grant_cache, notifications, workboard  # noqa: F401
        from patients.models import Patient, PatientAccess
        from portal.core import prefetch
        from portal.core.history import record_bulk_updates

        grant_cache.connect_receivers()
        # The signed-in account's grants, read ahead with its account (clinics.prefetch).
        prefetch.provide(grant_cache.prefetch_keys)
        workboard.register_items()
        record_bulk_updates(Patient)
        record_bulk_updates(PatientAccess)
