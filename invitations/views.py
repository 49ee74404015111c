"""The invitation link: confirm the patient's date of birth, choose how to sign in,
accept the terms, and land on the portal home."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from clinics.terms import terms_current
from invitations import services
from invitations.forms import AcceptForm, ConfirmBirthDateForm
from invitations.models import Invitation
from patients.access import portal_enabled
from patients.accounts import account_for_contact, contact_in_use
from patients.returns import next_keep
from patients.sessions import SESSION_NEXT_AFTER_SIGNIN, SESSION_PATIENT, enrolment_only
from patients.signin import Step, signin_complete
from patients.terms import terms_accept, terms_context
from portal.core.http import no_store

SESSION_TOKEN = "portal_invitation_token"
SESSION_DOB_OK = "portal_invitation_dob_ok"


@portal_enabled
def invitation_link(request, token):
    """Move the token out of the URL into the session.

    The pages after this one carry no token, so they keep the default referrer policy
    (``no-referrer`` there would make browsers send ``Origin: null`` on their forms).
    """
    request.session[SESSION_TOKEN] = token
    next_keep(request, reverse("portal:invitation"))
    request.session.pop(SESSION_DOB_OK, None)
    response = no_store(redirect("portal:invitation"))
    response["Referrer-Policy"] = "no-referrer"
    return response


def pending_invitation(request) -> Invitation | None:
    return services.invitation_for_token(
        clinic=request.clinic, token=request.session.get(SESSION_TOKEN, "")
    )


@portal_enabled
def invitation(request):
    invite = pending_invitation(request)
    state = invite.state() if invite else None
    if state != Invitation.State.VALID:
        _forget_link(request)
        return no_store(render(request, "invitations/unusable.html", {"state": state}, status=410))
    if request.session.get(SESSION_DOB_OK) != invite.pk:
        return _confirm_birth_date(request, invite)
    existing = account_for_contact(
        clinic=request.clinic, channel=invite.channel, destination=invite.destination
    )
    user = request.user if request.user.is_authenticated else None
    if existing is not None or user is not None:
        return _add_to_account(request, invite, existing, user)
    return _create_account(request, invite)


def _represented(request):
    _forget_link(request)
    context = {"state": "represented"}
    return no_store(render(request, "invitations/unusable.html", context, status=410))


def _confirm_birth_date(request, invite):
    form = ConfirmBirthDateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.invitation_check_dob(
            invitation=invite, date_of_birth=form.cleaned_data["date_of_birth"]
        ):
            request.session[SESSION_DOB_OK] = invite.pk
            return no_store(redirect("portal:invitation"))
        form.add_error("date_of_birth", _("That date of birth does not match the clinic's chart."))
    context = {"form": form, "invite": invite}
    return no_store(render(request, "invitations/confirm_birth_date.html", context))


def _add_to_account(request, invite, existing, user):
    """This person already has an account here: sign in to it, then the access is added.

    The access joins only the account whose contact the invitation went to, never
    whichever account happens to be signed in on this browser.
    """
    if user is not None and (user.is_staff or existing is None or existing.pk != user.pk):
        return no_store(render(request, "invitations/other_account.html", {"invite": invite}))
    if user is None:
        context = {"invite": invite}
        return no_store(render(request, "invitations/sign_in_first.html", context))
    if enrolment_only(request):
        # The clinic requires an authenticator this session has not passed yet.
        return redirect("portal:account-authenticator")
    if request.method == "POST" and request.POST.get("terms"):
        try:
            grant = services.invitation_accept(request=request, invitation=invite, user=user)
        except services.InvitationUnusable:
            return redirect("portal:invitation")
        except services.Represented:
            return _represented(request)
        _forget_link(request)
        terms = terms_current(clinic=request.clinic)
        if terms is not None:
            terms_accept(request=request, user=user, terms=terms)
        request.session[SESSION_PATIENT] = grant.patient_id
        messages.success(request, _("Your portal access is ready."))
        return redirect("portal:home")
    context = {"invite": invite, **terms_context(request, terms_current(clinic=request.clinic))}
    return no_store(render(request, "invitations/add_access.html", context))


def _create_account(request, invite):
    if contact_in_use(
        clinic=request.clinic, channel=invite.channel, destination=invite.destination
    ):
        # A staff account uses this contact; a portal account cannot share it.
        return no_store(render(request, "invitations/contact_in_use.html", {"invite": invite}))
    form = AcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password = None
        if form.cleaned_data["method"] == "password":
            password = form.cleaned_data["new_password1"]
        try:
            grant = services.invitation_accept_new_account(
                request=request, invitation=invite, password=password
            )
        except services.InvitationUnusable:
            # Accepted a moment ago (perhaps in another tab): the link page says so.
            return redirect("portal:invitation")
        except services.Represented:
            return _represented(request)
        except services.ContactInUse:
            context = {"invite": invite}
            return no_store(render(request, "invitations/contact_in_use.html", context))
        _forget_link(request)
        terms = terms_current(clinic=request.clinic)
        if terms is not None:
            terms_accept(request=request, user=grant.user, terms=terms)
        completion = signin_complete(
            request,
            user=grant.user,
            method="invitation",
            proofs=[services.invitation_proof(invite)],
            patient=grant.patient,
        )
        if completion.step is Step.ENROL_AUTHENTICATOR:
            messages.info(
                request, _("Your clinic asks every patient to set up an authenticator app.")
            )
            return redirect("portal:account-authenticator")
        if completion.step is not Step.SIGNED_IN:
            return redirect("portal:start")
        messages.success(request, _("Your portal access is ready."))
        return redirect("portal:home")
    terms = terms_current(clinic=request.clinic)
    context = {"form": form, "invite": invite, **terms_context(request, terms)}
    return no_store(render(request, "invitations/accept.html", context))


def _forget_link(request):
    for key in (SESSION_TOKEN, SESSION_DOB_OK, SESSION_NEXT_AFTER_SIGNIN):
        request.session.pop(key, None)
