from django.utils.translation import gettext as _

from appointments.models import Appointment
from portal.core.history import changes_of


def appointment_changes(*, clinic, patient):
    """The recorded changes to ``patient``'s appointments at ``clinic`` (a chart history
    source, ``patients.history``)."""
    return changes_of(
        Appointment.history.filter(clinic=clinic, patient_id=patient.pk),
        subject=_("Appointment"),
        hidden={"patient"},
    )
