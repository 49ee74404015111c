from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = _("Patients")

    def ready(self):
        from patients import notifications  # noqa: F401 - registers notification builders
        from patients.home import connect_receivers

        connect_receivers()
