from django.apps import AppConfig
from django.core.signals import setting_changed
from django.utils.translation import gettext_lazy as _


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = _("Health record")

    def ready(self):
        from records import notifications, workboard  # noqa: F401 - registers the notices
        from records.page_cache import connect_receivers
        from records.storage import forget_document_storage

        workboard.register_items()
        connect_receivers()
        setting_changed.connect(forget_document_storage, dispatch_uid="records-storage")
