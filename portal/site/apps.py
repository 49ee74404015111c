from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SiteConfig(AppConfig):
    """The composition layer: the one package that may know every app (the patient home
    and its figures, the /portal/ URLconf, landing and health views, the demo data)."""

    name = "portal.site"
    label = "portal_site"
    verbose_name = _("Patient portal")

    def ready(self):
        # Imported here: it uses every app's models, loaded after the app registry.
        from portal.site import checks, home, refills  # noqa: F401 - checks register on import

        home.connect_receivers()
        refills.connect_receivers()
