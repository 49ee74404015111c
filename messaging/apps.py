from django.apps import AppConfig
from django.core.signals import setting_changed
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = _("Messages")

    def ready(self):
        from messaging import notifications, workboard  # noqa: F401 - registers builders
        from messaging.page_cache import connect_receivers
        from messaging.storage import forget_attachment_storage

        connect_receivers()
        setting_changed.connect(forget_attachment_storage)
        workboard.register_items()
