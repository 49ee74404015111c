"""Whether a chart is, was, or may become represented by someone else (a parent, a
carer): such a chart's email or mobile may be that person's, so it never opens the
patient's own account by itself — staff confirm the person first.

Features that can make someone a representative register a check in
``representation_checks`` from their ``AppConfig.ready()`` (invitations: a
representative invitation was sent), so this layer never imports them.
"""

from collections.abc import Callable

from patients.models import Patient, PatientAccess

# Each takes a chart and says whether the feature made or offered someone else access.
representation_checks: list[Callable[[Patient], bool]] = []


def chart_has_representatives(patient: Patient) -> bool:
    """Anyone other than the patient holds, held, or was offered access to the chart:
    a grant of any state (revoked and expired ones included) or a registered check."""
    others = (
        PatientAccess.objects.for_clinic(patient.clinic_id)
        .filter(patient=patient)
        .exclude(relationship=PatientAccess.Relationship.SELF)
    )
    return others.exists() or any(check(patient) for check in representation_checks)
