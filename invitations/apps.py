from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = _("Invitations")

    def ready(self):
        from invitations import notifications  # noqa: F401 - registers notification builders
        from invitations.services import representative_invited
        from patients.representation import representation_checks

        if representative_invited not in representation_checks:
            representation_checks.append(representative_invited)
