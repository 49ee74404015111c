"""The clinic's portal terms: the page anyone can read, and the acceptance a signed-in
patient is asked for when the clinic publishes a new version."""

from django.shortcuts import redirect, render

from clinics.terms import terms_current
from patients.access import patient_required, portal_enabled
from patients.forms import TermsAcceptForm
from patients.returns import next_take
from patients.terms import SESSION_TERMS_VERSION, terms_accept, terms_accepted_latest


@portal_enabled
def terms(request):
    """/portal/terms/: the version in force, for anyone (linked where terms are accepted)."""
    current = terms_current(clinic=request.clinic)
    context = {"terms": current, "text": current.text(request.LANGUAGE_CODE) if current else ""}
    return render(request, "patients/terms.html", context)


@patient_required(allow_terms=True)
def terms_accept_view(request):
    """The clinic published new terms: read and accept them, then go on where you were."""
    current = terms_current(clinic=request.clinic)
    if current is None:
        return redirect(next_take(request) or "portal:home")
    accepted = terms_accepted_latest(clinic=request.clinic, user=request.user)
    if accepted is not None and accepted.terms.version >= current.version:
        request.session[SESSION_TERMS_VERSION] = accepted.terms.version
        return redirect(next_take(request) or "portal:home")
    form = TermsAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if str(current.version) == request.POST.get("version"):
            terms_accept(request=request, user=request.user, terms=current)
            return redirect(next_take(request) or "portal:home")
        # A newer version was published while this page was open: show that one.
        return redirect("portal:terms-accept")
    context = {
        "form": form,
        "terms": current,
        "text": current.text(request.LANGUAGE_CODE),
        "accepted": accepted,
    }
    return render(request, "patients/terms_accept.html", context)
