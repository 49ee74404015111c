"""Patients' acceptance of their clinic's portal terms (``clinics.terms`` keeps the versions).

Registration and invitation acceptance record the version the person read and accepted.
When the clinic publishes a newer version, a signed-in account is asked to accept it
before any other portal page opens (``patients.access.patient_required``). The session
remembers the version its account accepted (``SESSION_TERMS_VERSION``, read at sign-in)
so that this check costs no query on each page.

An account with no recorded acceptance counts as having accepted version 1: the terms in
force when versions began (every way to get an account already required accepting the
clinic's terms). It is asked again from version 2 on.
"""

from django.utils import timezone

from clinics.models import PortalTerms
from patients.models import TermsAcceptance
from portal.audit.services import audit_record

SESSION_TERMS_VERSION = "portal_terms_version"
BASELINE_VERSION = 1


def terms_accepted_latest(*, clinic, user) -> TermsAcceptance | None:
    return (
        TermsAcceptance.objects.for_clinic(clinic)
        .filter(user=user)
        .select_related("terms")
        .order_by("-accepted_at", "-id")
        .first()
    )


def terms_accept(*, request, user, terms: PortalTerms) -> TermsAcceptance:
    """Record that ``user`` accepted ``terms`` (a version of their own clinic's)."""
    if terms.clinic_id != user.clinic_id:
        raise ValueError("terms of another clinic")
    acceptance = TermsAcceptance.objects.create(
        clinic_id=user.clinic_id, user=user, terms=terms, accepted_at=timezone.now()
    )
    audit_record(
        action="terms.accepted",
        request=request,
        clinic=user.clinic,
        actor=user,
        details={"version": terms.version},
    )
    if request is not None and request.user.is_authenticated and request.user.pk == user.pk:
        request.session[SESSION_TERMS_VERSION] = terms.version
    return acceptance


def terms_version_accepted(*, clinic, user) -> int:
    latest = terms_accepted_latest(clinic=clinic, user=user)
    return latest.terms.version if latest else BASELINE_VERSION


def terms_remember_for_session(request, user) -> None:
    """At sign-in: which version this account accepted, for the rest of the session."""
    request.session[SESSION_TERMS_VERSION] = terms_version_accepted(clinic=user.clinic, user=user)


def terms_pending(request) -> bool:
    """Whether the clinic's terms in force are newer than the ones this session's
    account accepted."""
    current = request.clinic.portal_settings.terms_version
    if not current:
        return False
    if SESSION_TERMS_VERSION not in request.session:
        terms_remember_for_session(request, request.user)
    return request.session[SESSION_TERMS_VERSION] < current


def terms_context(request, terms) -> dict:
    """What ``patients/_terms_box.html`` shows: the version and its text in the page's
    language."""
    return {"terms": terms, "terms_text": terms.text(request.LANGUAGE_CODE) if terms else ""}
