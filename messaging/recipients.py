"""Who is told of a new message from the clinic, and how.

The choice of channel for one person is ``patients.contacts.preferred_contact`` (the
patient's own choice for message notices, else email if on file, else mobile); here it
only sees the channels the clinic has switched on.
"""

from dataclasses import dataclass

from django.utils import timezone

from patients.contacts import patient_preference, preferred_contact
from patients.models import PatientAccess


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str
    language: str = "en"


def _contact(*, email, mobile, enabled_channels, prefer=""):
    return preferred_contact(
        email=email if "email" in enabled_channels else "",
        mobile=mobile if "sms" in enabled_channels else "",
        prefer=prefer,
    )


def patient_side_recipients(patient) -> list[Recipient]:
    """The patient (by the contact on their chart, as they chose for message notices)
    and every representative whose live grant includes messages (by their account's
    contact), each address once. Nobody when the clinic revoked portal access."""
    if patient.portal_revoked_at is not None:
        return []
    portal_settings = patient.clinic.portal_settings
    enabled = portal_settings.enabled_channels()
    found: list[Recipient] = []
    own = _contact(
        email=patient.email,
        mobile=patient.mobile,
        enabled_channels=enabled,
        prefer=patient_preference(patient, "messages"),
    )
    if own:
        found.append(Recipient(*own, language=patient.preferred_language))
    grants = (
        PatientAccess.objects.for_clinic(patient.clinic_id)
        .active()
        .filter(patient=patient, can_messages=True, user__is_active=True)
        .exclude(relationship=PatientAccess.Relationship.SELF)
        .select_related("user", "patient")
    )
    today = timezone.localdate()
    threshold = portal_settings.representative_age_threshold
    for grant in grants:
        if grant.ended_by_age(threshold=threshold, today=today):
            continue
        contact = _contact(
            email=grant.user.email, mobile=grant.user.phone, enabled_channels=enabled
        )
        if contact:
            # Representatives have no language on file: the patient's, as for
            # appointment notices.
            found.append(Recipient(*contact, language=patient.preferred_language))
    unique: dict[tuple[str, str], Recipient] = {}
    for recipient in found:
        unique.setdefault((recipient.channel, recipient.address.lower()), recipient)
    return list(unique.values())
