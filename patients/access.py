"""View guards for the patient portal."""

from functools import wraps

from django.shortcuts import redirect, render

from patients.models import VerificationRequest
from patients.returns import next_keep, signin_url
from patients.selectors import grants_reused, pick_grant, usable_grants
from patients.sessions import SESSION_PATIENT, enrolment_only
from patients.terms import terms_pending
from portal.core.http import no_store


def portal_enabled(view):
    """The clinic's portal is switched on; otherwise a clear page says whom to call."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.clinic.portal_settings.portal_enabled:
            return render(request, "patients/unavailable.html", status=503)
        return view(request, *args, **kwargs)

    return wrapper


def _no_access(request, user):
    pending = VerificationRequest.objects.for_clinic(request.clinic).filter(
        user=user, status=VerificationRequest.Status.PENDING
    )
    if pending.exists():
        return render(request, "patients/verification_pending.html")
    return render(request, "patients/no_access.html", status=403)


def patient_required(
    view=None, *, allow_password_change=False, allow_mfa_enrol=False, allow_terms=False, scope=None
):
    """A signed-in portal account of this clinic with a live grant.

    Sets ``request.access`` (the grant) and ``request.patient`` (the chart it reaches).
    ``scope`` ("appointments", "messages", "demographics") limits what a representative
    may do. When the clinic published terms newer than the ones the account accepted,
    every page but the terms' asks for them first (``patients.terms``).
    """

    def decorator(view):
        @wraps(view)
        @portal_enabled
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated or user.is_staff:
                return redirect(signin_url(request))
            if user.must_change_password and not allow_password_change:
                return redirect("portal:account-password")
            if not allow_mfa_enrol and enrolment_only(request):
                return redirect("portal:account-authenticator")
            if not allow_terms and terms_pending(request):
                next_keep(request, request.get_full_path() if request.method == "GET" else "")
                return redirect("portal:terms-accept")
            grants = usable_grants(clinic=request.clinic, user=user)
            access = pick_grant(grants, request.session.get(SESSION_PATIENT))
            if access is None:
                return _no_access(request, user)
            if scope is not None and not access.allows(scope):
                return render(request, "patients/out_of_scope.html", status=403)
            request.access = access
            request.patient = access.patient
            # The view may list the grants again (the home page does): one query, not two.
            with grants_reused(clinic=request.clinic, user=user, grants=grants):
                response = view(request, *args, **kwargs)
            return no_store(response)

        return wrapper

    return decorator(view) if view else decorator
