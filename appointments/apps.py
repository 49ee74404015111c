from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AppointmentsConfig(AppConfig):
    name = "appointments"
    verbose_name = _("Appointments")

    def ready(self):
        from appointments import notifications, workboard  # noqa: F401 - registers builders
        from appointments.history import appointment_changes
        from appointments.list_cache import connect_receivers
        from appointments.models import Appointment
        from appointments.signals import time_freed
        from appointments.tasks import offer_after_commit
        from patients.history import register_chart_history
        from portal.core.history import record_bulk_updates

        record_bulk_updates(Appointment)
        connect_receivers()
        register_chart_history(appointment_changes)
        time_freed.connect(offer_after_commit, dispatch_uid="offer-freed-time")
        workboard.register_items()
