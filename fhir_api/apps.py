from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirConfig(AppConfig):
    name = "fhir_api"
    verbose_name = _("Record system connection (FHIR)")
    default_auto_field = "django.db.models.BigAutoField"
