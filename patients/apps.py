from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = _("Patients")

    def ready(self):
        from patients import (
            grant_cache,
            home,
            notifications,  # noqa: F401 - registers notification builders
        )

        grant_cache.connect_receivers()
        home.connect_receivers()
