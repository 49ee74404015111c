"""Demo threads for `make run` (called by the seed_demo command). Idempotent.

Rows are written directly: the demo must not send notices or fill the audit log with
actions nobody took.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from clinics.models import User
from messaging.models import Message, Side, Thread
from patients.models import PatientIdentifier

# Per clinic: (health-card number of the patient, subject, category, messages oldest
# first as (side, hours ago, body)).
DEMO_THREADS = {
    "demo": [
        (
            "1234567890",
            "Your flu shot",
            Thread.Category.GENERAL,
            [
                (
                    Side.STAFF,
                    50,
                    "Hello Olivia,\n\nThis year's flu shots have arrived. "
                    "Reply here or call us to choose a time.\n\nThe front desk",
                ),
                (Side.PATIENT, 30, "Thank you! Could I come on a Tuesday morning?"),
                (
                    Side.STAFF,
                    2,
                    "Tuesday mornings work well. Book any time from 9:00 to 11:30 "
                    "on the Appointments page, or call us.",
                ),
            ],
        ),
        (
            "2345678901",
            "Renewal of my inhaler",
            Thread.Category.PRESCRIPTION_REFILL,
            [
                (
                    Side.PATIENT,
                    5,
                    "Hello,\nmy inhaler prescription runs out next week. "
                    "Could it be renewed?\nThanks, Noah",
                ),
            ],
        ),
    ],
    "northside": [
        (
            "4567890123",
            "Referral to cardiology",
            Thread.Category.REFERRAL,
            [
                (
                    Side.STAFF,
                    20,
                    "Good morning William,\n\nYour referral was sent. "
                    "The cardiology clinic will call you with a date.",
                ),
            ],
        ),
    ],
}


@transaction.atomic
def seed_demo_messages(clinic) -> int:
    """Create the clinic's demo threads that are missing; returns how many were made."""
    staff = User.objects.for_clinic(clinic).filter(username="frontdesk").first()
    now = timezone.now()
    made = 0
    for card, subject, category, messages in DEMO_THREADS.get(clinic.slug, []):
        identifier = (
            PatientIdentifier.objects.for_clinic(clinic)
            .filter(id_type__code="health-card", number=card)
            .select_related("patient")
            .first()
        )
        if identifier is None:
            continue
        patient = identifier.patient
        if Thread.objects.for_clinic(clinic).filter(patient=patient, subject=subject).exists():
            continue
        first_at = now - timedelta(hours=messages[0][1])
        last_side, last_hours = messages[-1][0], messages[-1][1]
        thread = Thread.objects.create(
            clinic=clinic,
            patient=patient,
            subject=subject,
            category=category,
            started_by=staff if messages[0][0] == Side.STAFF else None,
            created_at=first_at,
            last_message_at=now - timedelta(hours=last_hours),
            last_sender_side=last_side,
        )
        for side, hours, body in messages:
            at = now - timedelta(hours=hours)
            by_staff = side == Side.STAFF
            Message.objects.create(
                clinic=clinic,
                thread=thread,
                sender_side=side,
                author=staff if by_staff else None,
                author_name=(staff.get_full_name() if staff and by_staff else "")
                or ("Front desk" if by_staff else patient.full_name),
                author_relationship="" if by_staff else "self",
                body=body,
                created_at=at,
                # The newest message of each thread is left unread by the other side.
                read_by_staff_at=at if by_staff or hours != last_hours else None,
                read_by_patient_at=at if not by_staff or hours != last_hours else None,
            )
        made += 1
    return made
