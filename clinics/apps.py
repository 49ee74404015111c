from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ClinicsConfig(AppConfig):
    name = "clinics"
    verbose_name = _("Clinics")

    def ready(self):
        # Imported here: models (which these modules use) load after the app registry.
        from clinics import tenant_cache, user_cache
        from clinics.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="clinics.sync_role_permissions")
        # The caches' invalidation, in every process (web, Celery workers, commands).
        tenant_cache.connect_receivers()
        user_cache.connect_receivers()
