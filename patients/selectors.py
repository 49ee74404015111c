from django.db.models import Q
from django.utils import timezone

from patients.models import PatientAccess
from portal.audit.models import AuditEvent


def usable_grants(*, clinic, user) -> list[PatientAccess]:
    """The user's grants that work today: not revoked, not expired, not ended by age."""
    threshold = clinic.portal_settings.representative_age_threshold
    today = timezone.localdate()
    grants = (
        PatientAccess.objects.for_clinic(clinic)
        .active()
        .filter(user=user, patient__portal_revoked_at__isnull=True)
        # A chart in a category the clinic keeps off the portal is reached by no one.
        .filter(Q(patient__category__isnull=True) | Q(patient__category__portal_eligible=True))
        .select_related("patient")
        .order_by("created_at")
    )
    usable = [g for g in grants if not g.ended_by_age(threshold=threshold, today=today)]
    # The person's own chart first, then those they act for.
    return sorted(usable, key=lambda g: g.relationship != PatientAccess.Relationship.SELF)


def access_for_user(*, clinic, user, patient_id=None) -> PatientAccess | None:
    """The user's usable grant for ``patient_id`` (or their first one), or None."""
    grants = usable_grants(clinic=clinic, user=user)
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
