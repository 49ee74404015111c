from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    name = "portal.staff"
    label = "staff"
    verbose_name = _("Staff")

    def ready(self):
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in

        from portal.staff import (
            notifications,  # noqa: F401 - registers the email's builder
            services,
            sessions,
            workboard,
        )

        user_locked_out.connect(services.signin_lockout_record, dispatch_uid="staff.lockout")
        user_logged_in.connect(sessions.staff_session_start, dispatch_uid="staff.session_start")
        workboard.register_items()
