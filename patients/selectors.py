import unicodedata
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinics.models import PortalSettings
from patients.grant_cache import live_grants
from patients.models import Patient, PatientAccess, PatientCategory, PatientIdentifier
from patients.representation import chart_has_representatives
from portal.audit.models import AuditEvent
from portal.core.cache import drop_on_write
from portal.core.dates import parse_typed_date
from portal.core.identifiers import InvalidIdentifier, canonical_id_number, canonical_mobile

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
    for grant in usable:
        # The health-record scope reads the clinic's policy (PatientAccess.allows): the
        # clinic in hand, with its settings already loaded, not a query per grant.
        grant.clinic = clinic
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
    """Charts matching a staff member's search: an ID number, a date of birth, a phone
    number, names, or an email.

    An ID number is tried first, written any way (spaces, dashes, case), with one probe
    of the clinic's identifiers. Then a date of birth as staff write one ("1958-03-14",
    "14/03/1958", "March 14 1958", "14 mars 1958"), and a phone number in any written
    form ("613 555 0112", "(613) 555-0112", "+1 613…", read with the clinic's country):
    each an equality on an indexed column of the clinic's charts (E.164 mobile or home
    phone; date of birth). Otherwise every word must start or appear in a first or
    last name ("ann smi" finds Ann Smith), or the whole term in an email. Each condition
    stays on one table so that PostgreSQL answers it from the trigram indexes instead of
    joining and de-duplicating a million charts with their identifiers.
    """
    term = term.strip()
    if not term:
        return queryset
    birth_date = parse_typed_date(term)
    phone = _typed_phone(term, clinic.country) if birth_date is None else None
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
    if birth_date is not None:
        return queryset.filter(date_of_birth=birth_date)
    if phone:
        return queryset.filter(Q(mobile=phone) | Q(home_phone=phone))
    names = Q()
    for word in term.split():
        names &= Q(last_name__icontains=word) | Q(first_name__icontains=word)
    return queryset.filter(names | Q(email__icontains=term))


_PHONE_CHARACTERS = set("0123456789+-(). /")


def _typed_phone(term: str, region: str) -> str:
    """The E.164 number a search term writes, or "" when it is not only a phone number."""
    text = unicodedata.normalize("NFKC", term)
    digits = sum(ch.isdigit() for ch in text)
    if digits < 7 or any(ch not in _PHONE_CHARACTERS and not ch.isspace() for ch in text):
        return ""
    try:
        return canonical_mobile(text, region)
    except InvalidIdentifier:
        return ""


NOT_A_REGISTRATION = _("Only a pending new registration can be linked to a chart.")
CONTACT_NOT_PROVEN = _(
    "The email or mobile this person proved with a code is not on that chart, so the "
    "portal cannot tell they are its patient. Confirm who they are, update the chart's "
    "contact if it is theirs, then link."
)
CHART_HAS_ACCOUNT = _("Someone already uses the portal as that chart's patient.")
ID_DIFFERS = _("That chart has another number for the ID type this person typed.")
NOT_SAME_PERSON = _(
    "The name or date of birth this person gave is not the chart's. A shared contact "
    "alone does not show they are its patient."
)
CONTACT_SHARED = _(
    "Another chart has the same email or mobile (a family's shared contact, say), so "
    "it does not show which of them this person is. Confirm who they are first."
)
CHART_REPRESENTED = _(
    "Someone else acts, acted or was invited to act for that chart (a parent, a "
    "carer): its contact may be theirs. Confirm who this person is first."
)
CHART_OF_A_MINOR = _(
    "That chart's patient is younger than the age at which a parent's access ends: "
    "they are reached through a parent's access, not linked."
)


def _person(patient: Patient) -> tuple:
    """Name and date of birth, compared the way people write them (case, width, spaces)."""

    def word(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())

    return word(patient.first_name), word(patient.last_name), patient.date_of_birth


def link_refusal(*, registration: Patient, account, chart: Patient):
    """Why ``account`` (who self-registered ``registration``) may not be attached to
    ``chart``, or None when it may.

    The identity rule of every way in: the person reaches a chart only through a
    contact they proved that is the chart's own. Their account's sign-in contacts are
    the ones they proved with a code when registering; one of them must be the chart's
    email or mobile (canonical, exact equality), and no other chart of the clinic may
    carry it (a household's shared phone proves nothing about which of them this is).
    The name and date of birth they gave must be the chart's too. Refused as well: a
    chart someone already uses as its patient, a chart someone else acts or acted for
    and a minor's (as for a first account from a chart's contact,
    ``patients.representation``), and one with another number for the ID type typed.
    """
    if chart.pk == registration.pk or chart.clinic_id != registration.clinic_id:
        return NOT_A_REGISTRATION
    if _person(chart) != _person(registration):
        return NOT_SAME_PERSON
    proven = {account.email, str(account.phone or "")} - {""}
    on_chart = {chart.email, str(chart.mobile or "")} - {""}
    matched = proven & on_chart
    if not matched:
        return CONTACT_NOT_PROVEN
    shared = (
        Patient.objects.for_clinic(chart.clinic_id)
        .exclude(pk__in=[chart.pk, registration.pk])
        .filter(Q(email__in=matched) | Q(mobile__in=matched) | Q(home_phone__in=matched))
    )
    if shared.exists():
        return CONTACT_SHARED
    threshold = PortalSettings.objects.get(clinic_id=chart.clinic_id).representative_age_threshold
    if chart.date_of_birth and chart.age_on(timezone.localdate()) < threshold:
        return CHART_OF_A_MINOR
    if chart_has_representatives(chart):
        return CHART_REPRESENTED
    others = (
        PatientAccess.objects.for_clinic(chart.clinic_id)
        .active()
        .filter(patient=chart, relationship=PatientAccess.Relationship.SELF)
        .exclude(user=account)
    )
    if others.exists():
        return CHART_HAS_ACCOUNT
    typed = PatientIdentifier.objects.for_clinic(chart.clinic_id).filter(patient=registration)
    for identifier in typed:
        differs = (
            PatientIdentifier.objects.for_clinic(chart.clinic_id)
            .filter(patient=chart, id_type_id=identifier.id_type_id)
            .exclude(number=identifier.number)
        )
        if differs.exists():
            return ID_DIFFERS
    return None


@dataclass
class PossibleDuplicate:
    chart: Patient
    reasons: list[str]
    refusal: str | None  # why "Link to this chart instead" is refused, or None


def registration_details(*, clinic, change_request):
    """What staff need to decide a new registration: the ID the person typed (type and
    number) and the clinic's charts that may be the same person."""
    registration = change_request.patient
    typed_ids = list(
        PatientIdentifier.objects.for_clinic(clinic)
        .filter(patient=registration)
        .select_related("id_type")
    )
    return typed_ids, possible_duplicates(
        clinic=clinic, registration=registration, account=change_request.requested_by
    )


def possible_duplicates(*, clinic, registration, account, limit: int = 10):
    """Charts of the clinic that may be ``registration``'s person: the same name and date
    of birth, or the same email or mobile (as a mobile or home phone). Each probe uses
    an index (date of birth, email, E.164 phones); at most ``limit`` charts."""
    same_contact = Q(pk__in=[])
    if registration.email:
        same_contact |= Q(email=registration.email)
    mobile = str(registration.mobile or "")
    if mobile:
        same_contact |= Q(mobile=mobile) | Q(home_phone=mobile)
    others = Patient.objects.for_clinic(clinic).exclude(pk=registration.pk)
    candidates = list(
        others.filter(Q(date_of_birth=registration.date_of_birth) | same_contact).order_by(
            "last_name", "first_name", "pk"
        )[:200]
    )
    found = []
    for chart in candidates:
        reasons = []
        if (
            chart.date_of_birth == registration.date_of_birth
            and chart.first_name.casefold() == registration.first_name.casefold()
            and chart.last_name.casefold() == registration.last_name.casefold()
        ):
            reasons.append(_("Same name and date of birth"))
        if registration.email and chart.email == registration.email:
            reasons.append(_("Same email"))
        if mobile and mobile in (str(chart.mobile or ""), str(chart.home_phone or "")):
            reasons.append(_("Same mobile"))
        if reasons:
            refusal = (
                link_refusal(registration=registration, account=account, chart=chart)
                if account is not None
                else _("Nobody holds this registration's account any more.")
            )
            found.append(PossibleDuplicate(chart=chart, reasons=reasons, refusal=refusal))
        if len(found) == limit:
            break
    return found


def chart_for_clinic(*, clinic, pk: int) -> Patient:
    """The clinic's chart ``pk``, or 404."""
    chart = Patient.objects.for_clinic(clinic).filter(pk=pk).first()
    if chart is None:
        raise Http404
    return chart
