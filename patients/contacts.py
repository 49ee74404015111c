"""Where a patient's notices go. One place, so notification preferences can replace it."""

from patients.models import PatientAccess


def preferred_contact(*, email: str, mobile) -> tuple[str, str] | None:
    """(channel, destination): email when there is one, else the mobile number."""
    if email:
        return ("email", email)
    if mobile:
        return ("sms", str(mobile))
    return None


def notice_recipients(patient, *, scope: str) -> list[tuple[str, str]]:
    """The patient's preferred contact, plus each representative whose live grant covers
    ``scope``; no destination twice."""
    recipients = []
    own = preferred_contact(email=patient.email, mobile=patient.mobile)
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
