from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_migrate
from django.utils.translation import gettext_lazy as _


class ClinicsConfig(AppConfig):
    name = "clinics"
    verbose_name = _("Clinics")

    def ready(self):
        # Imported here: models (which these modules use) load after the app registry.
        from clinics import prefetch as clinics_prefetch
        from clinics import tenant_cache, user_cache
        from clinics.models import User
        from clinics.roles import end_sessions_on_role_change, sync_role_permissions
        from portal.core import prefetch as portal_prefetch

        post_migrate.connect(sync_role_permissions, dispatch_uid="clinics.sync_role_permissions")
        # The caches' invalidation, in every process (web, Celery workers, commands).
        tenant_cache.connect_receivers()
        user_cache.connect_receivers()
        # The clinic, session and account entries, read ahead on every request.
        portal_prefetch.provide(clinics_prefetch.prefetch_keys)
        m2m_changed.connect(
            end_sessions_on_role_change,
            sender=User.groups.through,
            dispatch_uid="clinics.end_sessions_on_role_change",
        )
