"""A chart's history: every recorded change to the chart, its ID numbers and its portal
access, and whatever later apps register (``register_chart_history``: appointments do),
read as old → new values for the patient's History page in the admin."""

from collections.abc import Callable, Iterable

from django.utils.translation import gettext as _

from patients.models import Patient, PatientAccess, PatientIdentifier
from portal.core.history import Change, changes_of

ChartHistorySource = Callable[..., Iterable[Change]]
_sources: list[ChartHistorySource] = []


def register_chart_history(source: ChartHistorySource) -> None:
    """Add ``source(*, clinic, patient)``: the changes of rows of ``patient`` at
    ``clinic`` that another app keeps (each source reads its own rows, clinic-scoped)."""
    if source not in _sources:
        _sources.append(source)


def chart_history(*, clinic, patient: Patient) -> list[Change]:
    """Every change recorded for ``patient``'s chart at ``clinic``, newest first."""
    changes = []
    for source in (_chart_changes, *_sources):
        changes.extend(source(clinic=clinic, patient=patient))
    return sorted(changes, key=lambda c: c.when, reverse=True)


def _chart_changes(*, clinic, patient):
    yield from changes_of(Patient.history.filter(clinic=clinic, id=patient.pk), subject=_("Chart"))
    yield from changes_of(
        PatientIdentifier.history.filter(clinic=clinic, patient_id=patient.pk),
        subject=_("ID number"),
        hidden={"patient"},
    )
    yield from changes_of(
        PatientAccess.history.filter(clinic=clinic, patient_id=patient.pk),
        subject=_("Portal access"),
        hidden={"patient"},
    )
