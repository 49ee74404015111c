"""Portal sessions: what a signed-in session keeps, sign-out, sign-out everywhere.

Sessions are started only by ``patients.signin.signin_complete``.
"""

from django.contrib.auth import logout

from patients.authenticator import totp_forget_unconfirmed
from patients.models import PatientAccess
from portal.audit.services import audit_record

SESSION_SIGNED_IN_AT = "portal_signed_in_at"
SESSION_LAST_SEEN = "portal_last_seen"
SESSION_PATIENT = "portal_patient_id"
SESSION_LANGUAGE = "portal_language"
# Set when the clinic requires an authenticator and the account has none yet: the
# session reaches only the authenticator set-up (``patients.access.patient_required``).
SESSION_MFA_ENROL_REQUIRED = "portal_mfa_enrol_required"
# Set when the session's sign-in (or the set-up since) passed the account's authenticator.
SESSION_SECOND_FACTOR = "portal_second_factor"
# The URL name to return to once signed in, set by a page that needs a signed-in account
# (an invitation link for an existing account) and cleared by it when done.
SESSION_NEXT_AFTER_SIGNIN = "portal_next_after_signin"


def enrolment_only(request) -> bool:
    """Whether this signed-in session may reach only the authenticator set-up: the
    clinic requires an authenticator and the session has not passed one — also when the
    clinic turned the requirement on after the session started."""
    if request.session.get(SESSION_MFA_ENROL_REQUIRED):
        return True
    if request.clinic.portal_settings.mfa_required and not request.session.get(
        SESSION_SECOND_FACTOR
    ):
        request.session[SESSION_MFA_ENROL_REQUIRED] = True
        return True
    return False


def authenticator_passed(request) -> None:
    """The session passed the account's authenticator (at sign-in or by setting it up)."""
    request.session.pop(SESSION_MFA_ENROL_REQUIRED, None)
    request.session[SESSION_SECOND_FACTOR] = True


def chart_language(user, patient) -> str | None:
    """The preferred language on the account's own chart; for a representative without
    one, on the chart they signed in for (else the first they may act for)."""
    grants = list(
        PatientAccess.objects.for_clinic(user.clinic_id)
        .active()
        .filter(user=user)
        .select_related("patient")
        .order_by("created_at")
    )
    self_grant = PatientAccess.Relationship.SELF
    own = next((g.patient for g in grants if g.relationship == self_grant), None)
    chart = own or patient or (grants[0].patient if grants else None)
    return chart.preferred_language if chart is not None else None


def portal_logout(request, *, reason: str = "signout") -> None:
    user = request.user
    if user.is_authenticated:
        audit_record(action=f"signout.{reason}", request=request, actor=user)
    logout(request)


def account_end_all_sessions(*, request, user) -> None:
    """Sign out of every device, this one included."""
    user.end_all_sessions()
    totp_forget_unconfirmed(user)
    audit_record(action="signout.all_devices", request=request, actor=user)
