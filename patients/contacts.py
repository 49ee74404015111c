"""Where a patient's notices go. One place, so notification preferences can replace it."""

from dataclasses import dataclass

from django.utils import timezone

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


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str
    language: str = "en"


def notice_recipients(patient, *, scope: str, patient_choice: str = "") -> list[Recipient]:
    """Who is told of a notice about ``scope`` ("appointments", "messages",
    "health_record"), and how.

    The patient, by the contact on their chart as they chose for this kind of notice
    (automatic for the health record: there is no choice for it yet), and every
    representative whose usable grant covers ``scope`` (``PatientAccess.allows``, with
    the clinic's policy on the clinic's today), by their account's contact; only through
    channels the clinic has switched on; each address once. Nobody when the clinic
    revoked the patient's portal access. Representatives have no language on file, so
    everyone gets the patient's. ``patient_choice``: the scope whose channel choice the
    patient's own notice follows, when not ``scope``'s (a notice of the health record
    that points to a message follows the patient's choice for message notices).
    """
    if patient.portal_revoked_at is not None:
        return []
    portal_settings = patient.clinic.portal_settings
    enabled = portal_settings.enabled_channels()

    def contact(email, mobile, prefer=""):
        return preferred_contact(
            email=email if "email" in enabled else "",
            mobile=mobile if "sms" in enabled else "",
            prefer=prefer,
        )

    found = []
    own = contact(
        patient.email, patient.mobile, patient_preference(patient, patient_choice or scope)
    )
    if own:
        found.append(own)
    grants = (
        PatientAccess.objects.for_clinic(patient.clinic_id)
        .active()
        .filter(patient=patient, user__is_active=True)
        .exclude(relationship=PatientAccess.Relationship.SELF)
        .select_related("user", "patient")
    )
    today = timezone.localdate(timezone=patient.clinic.tz)
    threshold = portal_settings.representative_age_threshold
    for grant in grants:
        if grant.allows(scope, policy=portal_settings, today=today) and not grant.ended_by_age(
            threshold=threshold, today=today
        ):
            theirs = contact(grant.user.email, grant.user.phone)
            if theirs:
                found.append(theirs)
    unique: dict[tuple[str, str], Recipient] = {}
    for channel, address in found:
        unique.setdefault(
            (channel, address.lower()),
            Recipient(channel, address, language=patient.preferred_language),
        )
    return list(unique.values())
