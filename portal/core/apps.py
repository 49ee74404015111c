from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    name = "portal.core"
    label = "core"

    def ready(self):
        if settings.SENTRY_DSN:
            from portal.core.error_tracking import error_tracking_start  # only when used

            error_tracking_start(settings.SENTRY_DSN)
