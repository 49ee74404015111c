from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ClinicsConfig(AppConfig):
    name = "clinics"
    verbose_name = _("Clinics")

    def ready(self):
        from clinics.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="clinics.sync_role_permissions")
        # Connects the tenant cache's invalidation receivers in every process (web, Celery
        # workers, management commands), not only where the middleware is loaded.
        from clinics import backends, middleware  # noqa: F401
