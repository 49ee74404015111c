from django.db.models import Q

from patients.models import PatientAccess
from portal.audit.models import AuditEvent


def access_for_user(*, clinic, user, patient_id=None) -> PatientAccess | None:
    """The user's live grant for ``patient_id`` (or their first one), or None."""
    grants = (
        PatientAccess.objects.for_clinic(clinic)
        .active()
        .filter(user=user)
        .select_related("patient")
        .order_by("relationship", "created_at")
    )
    if patient_id is not None:
        chosen = next((g for g in grants if g.patient_id == patient_id), None)
        if chosen:
            return chosen
    return next(iter(grants), None)


def account_activity(*, clinic, user, patient):
    """What the patient may see of the audit log: their account's events and their chart's."""
    return (
        AuditEvent.objects.for_clinic(clinic)
        .filter(Q(actor=user) | Q(acting_for=patient))
        .select_related("actor", "acting_for")
        .order_by("-created_at", "-id")
    )
