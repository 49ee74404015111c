"""Where a patient's notices go. One place, so notification preferences can replace it."""

from patients.models import PatientAccess


def preferred_contact(*, email: str, mobile, prefer: str = "") -> tuple[str, str] | None:
    """(channel, destination) for one person's notice.

    ``prefer`` is the patient's own choice for this kind of notice: "email", "sms",
    "none" (send nothing) or "" (automatic: email when there is one, else the mobile).
    A chosen channel with nothing on file falls back to the automatic choice.
    """
    if prefer == "none":
        return None
    if prefer == "sms" and mobile:
        return ("sms", str(mobile))
    if prefer == "email" and email:
        return ("email", email)
    if email:
        return ("email", email)
    if mobile:
        return ("sms", str(mobile))
    return None


def patient_preference(patient, scope: str) -> str:
    """The patient's own channel choice for notices about ``scope``."""
    return {
        "appointments": patient.notify_appointments_by,
        "messages": patient.notify_messages_by,
    }.get(scope, "")


def notice_recipients(patient, *, scope: str) -> list[tuple[str, str]]:
    """The patient's preferred contact, plus each representative whose live grant covers
    ``scope``; no destination twice."""
    recipients = []
    own = preferred_contact(
        email=patient.email, mobile=patient.mobile, prefer=patient_preference(patient, scope)
    )
    if own:
        recipients.append(own)
    grants = (
        PatientAccess.objects.for_clinic(patient.clinic_id)
        .active()
        .filter(patient=patient)
        .exclude(relationship=PatientAccess.Relationship.SELF)
        .select_related("user")
    )
    for grant in grants:
        if grant.allows(scope):
            contact = preferred_contact(email=grant.user.email, mobile=grant.user.phone)
            if contact and contact not in recipients:
                recipients.append(contact)
    return recipients
