"""What a patient's side may do in messages, from the clinic's PortalSettings.

Views use these to decide whether to show a form; the services check them again, so a
forged POST is refused the same way.
"""

from patients.models import Patient


def patient_may_send(*, patient, portal_settings) -> bool:
    """A patient pending verification sends only when the clinic allows it."""
    if patient.status == Patient.Status.PENDING:
        return portal_settings.pending_patients_may_message
    return True


def patient_may_reply(*, patient, portal_settings) -> bool:
    return portal_settings.message_replies_allowed and patient_may_send(
        patient=patient, portal_settings=portal_settings
    )


def patient_may_start(*, patient, portal_settings) -> bool:
    return portal_settings.patient_messages_allowed and patient_may_send(
        patient=patient, portal_settings=portal_settings
    )
