from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import Q
from django.utils import timezone

from clinics.models import PortalSettings
from patients.grant_cache import live_grants
from patients.models import Patient, PatientAccess, PatientCategory, PatientIdentifier
from portal.audit.models import AuditEvent
from portal.core.cache import drop_on_write
from portal.core.identifiers import InvalidIdentifier, canonical_id_number

# The signed-in account's usable grants, worked out once by ``patient_required`` and
# reused by the view it guards (the home page lists them again). Dropped as soon as a
# grant, a chart, a category or the portal settings are saved during the request.
_request_grants: ContextVar[tuple | None] = ContextVar("portal_request_grants", default=None)


def usable_grants(*, clinic, user) -> list[PatientAccess]:
    """The user's grants that work today: not revoked, not expired, not ended by age."""
    today = timezone.localdate()
    reused = _request_grants.get()
    if reused is not None and reused[:3] == (clinic.pk, user.pk, today):
        return list(reused[3])
    threshold = clinic.portal_settings.representative_age_threshold
    now = timezone.now()
    # Only live grants are read (from the shared cache, see patients.grant_cache); the
    # rest of the test runs on those few rows in Python, at every request.
    grants = live_grants(clinic=clinic, user=user)
    usable = [
        g
        for g in grants
        if (g.expires_at is None or g.expires_at > now)
        and g.patient.portal_revoked_at is None
        # A chart in a category the clinic keeps off the portal is reached by no one.
        and (g.patient.category is None or g.patient.category.portal_eligible)
        and not g.ended_by_age(threshold=threshold, today=today)
    ]
    # The person's own chart first, then those they act for.
    return sorted(usable, key=lambda g: g.relationship != PatientAccess.Relationship.SELF)


def pick_grant(grants, patient_id=None) -> PatientAccess | None:
    """The grant for ``patient_id`` among ``grants``, else the first one, else None."""
    if patient_id is not None:
        chosen = next((g for g in grants if g.patient_id == patient_id), None)
        if chosen:
            return chosen
    return next(iter(grants), None)


def access_for_user(*, clinic, user, patient_id=None) -> PatientAccess | None:
    """The user's usable grant for ``patient_id`` (or their first one), or None."""
    return pick_grant(usable_grants(clinic=clinic, user=user), patient_id)


@contextmanager
def grants_reused(*, clinic, user, grants):
    """Within the block, ``usable_grants`` for this clinic and user returns ``grants``
    (until one of the rows they depend on is saved)."""
    token = _request_grants.set((clinic.pk, user.pk, timezone.localdate(), list(grants)))
    try:
        yield
    finally:
        _request_grants.reset(token)


def _forget_request_grants(**kwargs):
    _request_grants.set(None)


drop_on_write(
    _forget_request_grants,
    PatientAccess,
    Patient,
    PatientCategory,
    PortalSettings,
    uid="request-grants",
)


# Which scope of a grant an event about a chart belongs to, by its action's prefix.
ACTIVITY_SCOPES = {
    "appointment.": "appointments",
    "message.": "messages",
    "patient.": "demographics",
    "change_request.": "demographics",
    "verification.": "demographics",
}


def account_activity(*, clinic, user, access):
    """What the account holder may see of the audit log.

    Their own account's events, always. Events of others about the chart: all of them
    for the patient; for a representative, only those within the grant's scopes (an
    appointments-only carer sees appointment events, never the patient's sign-ins,
    chart views or who at the clinic looked).
    """
    patient_events = Q(acting_for=access.patient) & ~Q(actor=user)
    if access.acts_for_someone_else:
        allowed = [prefix for prefix, scope in ACTIVITY_SCOPES.items() if access.allows(scope)]
        in_scope = Q(pk__in=[])
        for prefix in allowed:
            in_scope |= Q(action__startswith=prefix)
        patient_events &= in_scope
    return (
        AuditEvent.objects.for_clinic(clinic)
        .filter(Q(actor=user) | patient_events)
        .select_related("actor", "acting_for")
        .order_by("-created_at", "-id")
    )


def search_charts(queryset, term: str, *, clinic):
    """Charts matching a staff member's search: an ID number, names, or an email.

    An ID number is tried first, written any way (spaces, dashes, case), with one probe
    of the clinic's identifiers. Otherwise every word must start or appear in a first or
    last name ("ann smi" finds Ann Smith), or the whole term in an email. Each condition
    stays on one table so that PostgreSQL answers it from the trigram indexes instead of
    joining and de-duplicating a million charts with their identifiers.
    """
    term = term.strip()
    if not term:
        return queryset
    try:
        number = canonical_id_number(term)
    except InvalidIdentifier:
        number = ""
    if any(ch.isdigit() for ch in number):
        charts = list(
            PatientIdentifier.objects.for_clinic(clinic)
            .filter(number=number)
            .values_list("patient_id", flat=True)[:100]
        )
        if charts:
            return queryset.filter(pk__in=charts)
    names = Q()
    for word in term.split():
        names &= Q(last_name__icontains=word) | Q(first_name__icontains=word)
    return queryset.filter(names | Q(email__icontains=term))
