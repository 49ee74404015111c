"""Patient portal: sign-in by ID + contact + one time passcode, registration, account."""

import datetime
import time

import segno
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinics.models import IdentifierType, User
from clinics.terms import terms_current
from patients import accounts, authenticator, passcodes, recovery, registration, sessions, signin
from patients.access import patient_required, portal_enabled
from patients.accounts import reset_token_generator
from patients.activity import activity_rows
from patients.forms import (
    TOO_MANY_TRIES_TEXT,
    CodeForm,
    ConfirmContactForm,
    ContactForm,
    IdentificationForm,
    PasswordResetRequestForm,
    PasswordSignInForm,
    RecoveryCodeForm,
    RegistrationForm,
    SetPasswordForm,
    SignInContactForm,
    TotpForm,
)
from patients.locks import subject_for_identity, subject_for_source, subject_for_user
from patients.models import PasscodeDevice
from patients.passcodes import ContactProof, Proof, SendRefused
from patients.registration import Outcome
from patients.returns import next_remember, next_take
from patients.selectors import account_activity, usable_grants
from patients.signin import Step, signin_complete
from patients.terms import terms_accept, terms_accepted_latest, terms_context
from portal.core.http import no_store

FLOW = "portal_signin"
RESET = "portal_password_reset"
PROVEN_FOR_SECONDS = 30 * 60


def _flow(request):
    """The pending sign-in, only on the clinic that started it."""
    flow = request.session.get(FLOW) or {}
    if flow.get("clinic") != request.clinic.pk:
        return {}
    return flow


def _save_flow(request, **values):
    flow = {**_flow(request), **values}
    request.session[FLOW] = flow
    return flow


def _refusal_message(refused):
    return {
        SendRefused.TOO_SOON: _("A code was sent a moment ago. Wait a minute, then ask again."),
        SendRefused.DESTINATION_LIMIT: _(
            "Too many codes were sent to this contact. Try again in an hour, or call the clinic."
        ),
        SendRefused.IP_LIMIT: _(
            "Too many codes were requested from this connection. Try again in an hour."
        ),
        SendRefused.CLINIC_LIMIT: _(
            "The clinic cannot send more codes right now. Try again later, or call the clinic."
        ),
        SendRefused.CHANNEL_DISABLED: _("The clinic does not send codes this way."),
    }[refused]


def _mask(channel, destination):
    if channel == "email":
        name, _at, domain = destination.partition("@")
        return f"{name[:1]}{'•' * max(len(name) - 1, 2)}@{domain}"
    return f"{'•' * (len(destination) - 4)}{destination[-4:]}"


def _locked(request, retry_at):
    until_staff = retry_at is True
    return render(
        request,
        "patients/locked.html",
        {"until_staff": until_staff, "retry_at": None if until_staff else retry_at},
        status=429,
    )


# --- Sign-in by ID + contact + code ----------------------------------------------------


@portal_enabled
def start(request):
    """Identification: the ID type and number (the portal's root for a visitor; a
    signed-in patient gets the home page there, ``portal.site.views.portal_root``)."""
    next_remember(request)
    form = IdentificationForm(request.POST or None, clinic=request.clinic)
    if request.method == "POST" and form.is_valid():
        request.session[FLOW] = {
            "clinic": request.clinic.pk,
            "id_type": form.cleaned_data["id_type"],
            "id_number": form.cleaned_data["id_number"],
        }
        return redirect("portal:signin-contact")
    return no_store(render(request, "patients/signin_identification.html", {"form": form}))


@portal_enabled
def signin_contact(request):
    """Email or Phone: where the code goes."""
    flow = _flow(request)
    if "id_number" not in flow:
        return redirect("portal:start")
    form = ContactForm(request.POST or None, clinic=request.clinic)
    if request.method == "POST" and form.is_valid():
        # A new contact starts the proof again: nothing proven earlier carries over.
        request.session[FLOW] = {
            **{k: v for k, v in flow.items() if not k.startswith("proven_")},
            "channel": form.cleaned_data["contact_type"],
            "destination": form.cleaned_data["destination"],
            "device_id": None,
        }
        return redirect("portal:signin-check")
    return no_store(render(request, "patients/signin_contact.html", {"form": form}))


@portal_enabled
def signin_check(request):
    """Show what was entered; Next sends the code."""
    flow = _flow(request)
    if "destination" not in flow:
        return redirect("portal:start")
    id_type = IdentifierType.objects.for_clinic(request.clinic).filter(code=flow["id_type"]).first()
    error = None
    if request.method == "POST":
        device, refused = passcodes.passcode_issue(
            request=request,
            clinic=request.clinic,
            purpose=PasscodeDevice.Purpose.SIGN_IN,
            channel=flow["channel"],
            destination=flow["destination"],
        )
        if device is not None:
            _save_flow(request, device_id=device.pk, flow=str(device.flow))
            return redirect("portal:signin-code")
        error = _refusal_message(refused)
    context = {"flow": flow, "id_type": id_type, "error": error}
    return no_store(render(request, "patients/signin_check.html", context))


@portal_enabled
def signin_code(request):
    """One time passcode: enter it and Login."""
    flow = _flow(request)
    if not flow.get("device_id"):
        return redirect("portal:start")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = passcodes.passcode_verify(
            request=request,
            clinic=request.clinic,
            device_id=flow["device_id"],
            flow=flow["flow"],
            purpose=PasscodeDevice.Purpose.SIGN_IN,
            code=form.cleaned_data["code"],
            subjects=_identity_subjects(request, flow),
        )
        if result.outcome is Proof.OK:
            return _after_proof(request, flow, result.proof)
        if result.outcome is Proof.LOCKED:
            return _locked(request, result.retry_at)
        if result.outcome is Proof.TOO_MANY_TRIES:
            form.add_error("code", TOO_MANY_TRIES_TEXT)
        elif result.outcome is Proof.EXPIRED:
            form.add_error(
                "code", _("This code has expired or was already used. Ask for a new code.")
            )
        else:
            form.add_error(
                "code", _("That code is not right. Check the most recent message we sent.")
            )
    context = {
        "form": form,
        "masked": _mask(flow["channel"], flow["destination"]),
        "channel": flow["channel"],
        "minutes": request.clinic.portal_settings.otp_validity_minutes,
    }
    return no_store(render(request, "patients/signin_code.html", context))


@require_POST
@portal_enabled
def signin_resend(request):
    flow = _flow(request)
    device = (
        PasscodeDevice.objects.for_clinic(request.clinic)
        .filter(pk=flow.get("device_id"), flow=flow.get("flow"))
        .first()
    )
    if device is None:
        return redirect("portal:start")
    refused = passcodes.passcode_resend(request=request, device=device)
    if refused:
        messages.error(request, _refusal_message(refused))
    else:
        messages.success(request, _("We sent a new code. Use the newest one."))
    return redirect("portal:signin-code")


def _identity_subjects(request, flow):
    """What a wrong sign-in code counts against: the ID + contact of this flow and the
    connection it came from — never the account that holds the contact, whose holder a
    stranger typing any ID could otherwise keep locked out. Codes go only to the
    contact, 5 tries each, under the send limits: guessing is bounded without it."""
    return [
        (
            subject_for_identity(
                clinic=request.clinic,
                id_type=flow["id_type"],
                id_number=flow["id_number"],
                destination=flow["destination"],
            ),
            None,
        ),
        (subject_for_source(clinic=request.clinic, request=request, what="passcode"), None),
    ]


def _proof_from_flow(request, flow) -> ContactProof | None:
    """The contact this flow proved, while the proof is fresh."""
    if not flow.get("proven_at") or time.time() - flow["proven_at"] > PROVEN_FOR_SECONDS:
        return None
    return ContactProof(request.clinic.pk, flow["proven_channel"], flow["proven_destination"])


def _after_proof(request, flow, proof):
    resolution = registration.signin_resolve(
        request=request,
        clinic=request.clinic,
        id_type=flow["id_type"],
        id_number=flow["id_number"],
        proof=proof,
    )
    if resolution.outcome is Outcome.REGISTER:
        if not request.clinic.portal_settings.self_registration_allowed:
            request.session.pop(FLOW, None)
            return render(request, "patients/registration_closed.html")
        # Registration may use only the contact this code proved.
        _save_flow(
            request,
            proven_at=time.time(),
            proven_channel=proof.channel,
            proven_destination=proof.destination,
            device_id=None,
        )
        if resolution.user is not None:
            # An account has this contact: it signs in first (its authenticator
            # included), and only then may register a chart to it.
            return _complete_signin(request, resolution.user, method="passcode", proofs=[proof])
        return redirect("portal:register")
    request.session.pop(FLOW, None)
    if resolution.outcome is Outcome.VERIFY:
        return render(request, "patients/verification_pending.html")
    if resolution.outcome is Outcome.INELIGIBLE:
        return render(request, "patients/ineligible.html")
    if resolution.outcome is Outcome.REVOKED:
        return render(request, "patients/no_access.html", {"revoked": True})
    return _complete_signin(
        request, resolution.user, method="passcode", proofs=[proof], patient=resolution.patient
    )


def _complete_signin(request, user, *, method, proofs, patient=None):
    """Hand the proofs to sign-in completion and show what it decided."""
    completion = signin_complete(request, user=user, method=method, proofs=proofs, patient=patient)
    return _after_completion(request, completion)


def _after_completion(request, completion):
    step = completion.step
    if step is Step.NEEDS_AUTHENTICATOR:
        return redirect("portal:signin-authenticator")
    if step is Step.LOCKED:
        return _locked(request, completion.retry_at)
    if step is Step.REVOKED:
        return render(request, "patients/no_access.html", {"revoked": True})
    if step is Step.INELIGIBLE:
        return render(request, "patients/ineligible.html")
    if step is Step.REFUSED:
        request.session.pop(FLOW, None)
        messages.error(request, _("We could not sign you in. Start again."))
        return redirect("portal:start")
    if step is Step.ENROL_AUTHENTICATOR:
        messages.info(request, _("Your clinic asks every patient to set up an authenticator app."))
        return redirect("portal:account-authenticator")
    return _next_after_signin(request)


def _next_after_signin(request):
    """Back to a registration, or to the page that asked for a sign-in (``returns``:
    a link from an email, an invitation, a form the idle timeout interrupted), else home."""
    if _proof_from_flow(request, _flow(request)) is not None:
        return redirect("portal:register")
    return redirect(next_take(request) or "portal:home")


@portal_enabled
def register(request):
    """No chart has this ID: complete all fields to register."""
    flow = _flow(request)
    proof = _proof_from_flow(request, flow)
    if proof is None:
        return redirect("portal:start")
    if not request.clinic.portal_settings.self_registration_allowed:
        return render(request, "patients/registration_closed.html")
    user = request.user if request.user.is_authenticated and not request.user.is_staff else None
    if user is not None and sessions.enrolment_only(request):
        return redirect("portal:account-authenticator")
    if user is not None and registration.has_own_chart(clinic=request.clinic, user=user):
        # The account already has its own chart: the ID typed was not its chart's.
        request.session.pop(FLOW, None)
        messages.info(request, _("You are signed in to your account. Your chart is below."))
        return redirect("portal:home")
    field = "email" if proof.channel == "email" else "mobile"
    initial = {field: proof.destination, "preferred_language": request.LANGUAGE_CODE}
    form = registration_form(request, proof, initial)
    if request.method == "POST" and form.is_valid():
        terms_in_force = terms_current(clinic=request.clinic)
        data = registration.Registration(
            **{k: v for k, v in form.cleaned_data.items() if k != "consent"}
        )
        try:
            resolution = registration.patient_self_register(
                request=request,
                clinic=request.clinic,
                id_type=flow["id_type"],
                id_number=flow["id_number"],
                proof=proof,
                data=data,
            )
        except registration.SignInFirst:
            # An account took this contact since the code was entered: it signs in first.
            return _complete_signin(
                request,
                accounts.account_for_contact(
                    clinic=request.clinic, channel=proof.channel, destination=proof.destination
                ),
                method="passcode",
                proofs=[proof],
            )
        except registration.AlreadyRegistered:
            request.session.pop(FLOW, None)
            messages.error(request, _("This ID was just registered. Start again to sign in."))
            return redirect("portal:start")
        request.session.pop(FLOW, None)
        if terms_in_force is not None:
            terms_accept(request=request, user=resolution.user, terms=terms_in_force)
        messages.success(
            request,
            _(
                "You are registered. The clinic will verify your details; "
                "some services may wait until then."
            ),
        )
        if user is not None:
            request.session[sessions.SESSION_PATIENT] = resolution.patient.pk
            return redirect(next_take(request) or "portal:home")
        return _complete_signin(
            request,
            resolution.user,
            method="registration",
            proofs=[proof],
            patient=resolution.patient,
        )
    terms = terms_current(clinic=request.clinic)
    context = {"form": form, **terms_context(request, terms)}
    return no_store(render(request, "patients/register.html", context))


def registration_form(request, proof, initial):
    return RegistrationForm(
        request.POST or None,
        clinic=request.clinic,
        proven_channel=proof.channel,
        initial=initial,
    )


# --- Password and authenticator ------------------------------------------------------


@portal_enabled
def signin_password(request):
    next_remember(request)
    form = PasswordSignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, result = signin.password_signin(
            request=request,
            clinic=request.clinic,
            login=form.cleaned_data["login"],
            password=form.cleaned_data["password"],
        )
        if result.outcome is Proof.LOCKED:
            return _locked(request, result.retry_at)
        if result.outcome is Proof.OK:
            return _complete_signin(request, user, method="password", proofs=[result.proof])
        form.add_error(None, _("That email, phone or password is not right."))
    return no_store(render(request, "patients/signin_password.html", {"form": form}))


@portal_enabled
def signin_authenticator(request):
    pending = signin.pending_authenticator(request)
    if pending is None:
        return redirect("portal:start")
    user, state = pending
    form = TotpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = authenticator.totp_verify(
            request=request, user=user, code=form.cleaned_data["code"]
        )
        if result.outcome is Proof.LOCKED:
            return _locked(request, result.retry_at)
        if result.outcome is Proof.OK:
            completion = signin.signin_complete_pending(
                request, user=user, pending=state, authenticator_proof=result.proof
            )
            return _after_completion(request, completion)
        form.add_error("code", _("That code is not right. Use the code your app shows now."))
    context = {"form": form, "has_recovery_codes": recovery.recovery_codes_left(user) > 0}
    return no_store(render(request, "patients/signin_authenticator.html", context))


@portal_enabled
def signin_recovery_code(request):
    """A recovery code instead of the authenticator app's code (the phone is lost)."""
    pending = signin.pending_authenticator(request)
    if pending is None:
        return redirect("portal:start")
    user, state = pending
    form = RecoveryCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = recovery.recovery_code_verify(
            request=request, user=user, code=form.cleaned_data["code"]
        )
        if result.outcome is Proof.LOCKED:
            return _locked(request, result.retry_at)
        if result.outcome is Proof.OK:
            completion = signin.signin_complete_pending(
                request, user=user, pending=state, authenticator_proof=result.proof
            )
            left = recovery.recovery_codes_left(user)
            messages.warning(
                request,
                _(
                    "You used a recovery code: %(left)s left. Make new ones on your "
                    "Account page if you are running low."
                )
                % {"left": left},
            )
            return _after_completion(request, completion)
        form.add_error("code", _("That recovery code is not right, or it was already used."))
    return no_store(render(request, "patients/signin_recovery_code.html", {"form": form}))


@require_POST
def session_keep_alive(request):
    """ "Stay signed in": the idle warning's ping. The session middleware has already
    counted this request as activity (or ended an idle session); the answer says how long
    the session has now. Cheap on purpose: no chart or grant is read."""
    user = request.user
    if not user.is_authenticated or user.is_staff:
        return no_store(JsonResponse({"signed_in": False}, status=401))
    idle_left = getattr(request, "portal_idle_left", None)
    return no_store(JsonResponse({"signed_in": True, "idle_left": idle_left}))


@require_POST
def signout(request):
    sessions.portal_logout(request)
    messages.success(request, _("You are signed out."))
    return redirect("portal:start")


# --- Password reset -------------------------------------------------------------------


@portal_enabled
def password_reset(request):
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        refused = accounts.password_reset_request(
            request=request, clinic=request.clinic, login=form.cleaned_data["login"]
        )
        if refused:
            messages.error(request, _refusal_message(refused))
        else:
            messages.success(
                request,
                _(
                    "If an account uses that email or phone, we sent it a link to set a "
                    "new password. The link works once."
                ),
            )
            return redirect("portal:signin-password")
    return no_store(render(request, "patients/password_reset.html", {"form": form}))


@portal_enabled
def password_reset_link(request, uidb64, token):
    """Move the token from the URL into the session, then show the form without it."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        pk = None
    request.session[RESET] = {"user": pk, "token": token}
    response = no_store(redirect("portal:password-reset-set"))
    response["Referrer-Policy"] = "no-referrer"
    return response


@portal_enabled
def password_reset_set(request):
    pending = request.session.get(RESET) or {}
    user = User.objects.filter(
        clinic=request.clinic, is_staff=False, pk=pending.get("user")
    ).first()
    if user is None or not reset_token_generator.check_token(user, pending.get("token", "")):
        request.session.pop(RESET, None)
        return no_store(render(request, "patients/password_reset_invalid.html", status=400))
    form = SetPasswordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        accounts.account_set_password(
            request=request, user=user, password=form.cleaned_data["new_password1"]
        )
        user.end_all_sessions()
        request.session.pop(RESET, None)
        messages.success(request, _("Your password is set. Sign in with it now."))
        return redirect("portal:signin-password")
    return no_store(render(request, "patients/password_reset_set.html", {"form": form}))


# --- Signed-in pages ------------------------------------------------------------------


@require_POST
@patient_required
def switch_patient(request):
    """A representative switches to another person they act for."""
    try:
        patient_id = int(request.POST.get("patient", ""))
    except ValueError:
        patient_id = None
    grant = next(
        (
            g
            for g in usable_grants(clinic=request.clinic, user=request.user)
            if g.patient_id == patient_id
        ),
        None,
    )
    if grant is None:
        raise Http404
    request.session[sessions.SESSION_PATIENT] = grant.patient_id
    messages.success(
        request, _("You are now acting for %(name)s.") % {"name": grant.patient.full_name}
    )
    return redirect("portal:home")


@patient_required(allow_password_change=True, allow_mfa_enrol=True)
def account(request):
    user = request.user
    device = authenticator.totp_device_for(user)
    context = {
        "has_password": user.has_usable_password(),
        "authenticator": device,
        "recovery_codes_left": recovery.recovery_codes_left(user) if device else None,
        "terms_accepted": terms_accepted_latest(clinic=request.clinic, user=user),
        "signed_in_at": datetime.datetime.fromtimestamp(
            request.session.get(sessions.SESSION_SIGNED_IN_AT, time.time()), tz=datetime.UTC
        ),
    }
    return render(request, "patients/account.html", context)


PENDING_CONTACT = "portal_pending_sign_in_contact"


@patient_required
def account_contact(request):
    """Change a sign-in contact: a code goes to the new one first."""
    form = SignInContactForm(request.POST or None, clinic=request.clinic)
    if request.method == "POST" and form.is_valid():
        channel, destination = form.cleaned_data["contact_type"], form.cleaned_data["destination"]
        device, refused = passcodes.passcode_issue(
            request=request,
            clinic=request.clinic,
            purpose=PasscodeDevice.Purpose.CONTACT_CHANGE,
            channel=channel,
            destination=destination,
            user=request.user,
        )
        if device is None:
            form.add_error(None, _refusal_message(refused))
        else:
            request.session[PENDING_CONTACT] = {
                "device": device.pk,
                "flow": str(device.flow),
                "channel": channel,
                "destination": destination,
            }
            return redirect("portal:account-contact-confirm")
    return no_store(render(request, "patients/account_contact.html", {"form": form}))


@patient_required
def account_contact_confirm(request):
    pending = request.session.get(PENDING_CONTACT)
    if not pending:
        return redirect("portal:account")
    user = request.user
    needs_authenticator = authenticator.totp_device_for(user) is not None
    form = ConfirmContactForm(request.POST or None, needs_authenticator=needs_authenticator)
    if request.method == "POST" and form.is_valid():
        result = passcodes.passcode_verify(
            request=request,
            clinic=request.clinic,
            device_id=pending["device"],
            flow=pending["flow"],
            purpose=PasscodeDevice.Purpose.CONTACT_CHANGE,
            code=form.cleaned_data["code"],
            subjects=[(subject_for_user(user), user)],
        )
        second = None
        if result.outcome is Proof.OK and needs_authenticator:
            second = authenticator.totp_verify(
                request=request, user=user, code=form.cleaned_data["authenticator_code"]
            )
        if Proof.LOCKED in (result.outcome, getattr(second, "outcome", None)):
            request.session.pop(PENDING_CONTACT, None)
            return _locked(request, (second or result).retry_at)
        if result.outcome is Proof.TOO_MANY_TRIES:
            form.add_error("code", TOO_MANY_TRIES_TEXT)
        elif result.outcome is not Proof.OK:
            form.add_error("code", _("That code is not right, or it has expired."))
        elif second is not None and second.outcome is not Proof.OK:
            form.add_error(
                "authenticator_code", _("That code is not right. Use the code your app shows now.")
            )
        else:
            request.session.pop(PENDING_CONTACT, None)
            try:
                accounts.account_contact_change(
                    request=request,
                    user=user,
                    contact_proof=result.proof,
                    authenticator_proof=second.proof if second else None,
                )
            except accounts.ContactTaken:
                messages.error(
                    request,
                    _("Another account at this clinic signs in with it. Call the clinic."),
                )
                return redirect("portal:account")
            messages.success(
                request,
                _("Saved. You sign in with it from now on; the old one no longer works."),
            )
            return redirect("portal:account")
    context = {
        "form": form,
        "masked": _mask(pending["channel"], pending["destination"]),
        "channel": pending["channel"],
    }
    return no_store(render(request, "patients/account_contact_confirm.html", context))


@patient_required(allow_password_change=True)
def account_password(request):
    form = SetPasswordForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        accounts.account_set_password(
            request=request, user=request.user, password=form.cleaned_data["new_password1"]
        )
        messages.success(request, _("Your password is saved. Other devices were signed out."))
        return redirect("portal:account")
    must = request.user.must_change_password
    return render(request, "patients/account_password.html", {"form": form, "must_change": must})


# The authenticator set-up of this session (its own secret until confirmed).
TOTP_ENROLMENT = "portal_totp_enrolment"


@patient_required(allow_mfa_enrol=True)
def account_authenticator(request):
    user = request.user
    confirmed = authenticator.totp_device_for(user)
    form = TotpForm(request.POST or None)
    if confirmed is not None:
        if request.method == "POST" and form.is_valid():
            try:
                removed = authenticator.totp_remove(
                    request=request, user=user, code=form.cleaned_data["code"]
                )
            except authenticator.AuthenticatorRequired:
                messages.error(
                    request,
                    _("Your clinic asks every patient to use an authenticator app: keep this one."),
                )
                return redirect("portal:account")
            if removed:
                messages.success(request, _("The authenticator app was removed."))
                return redirect("portal:account")
            form.add_error("code", _("That code is not right. Use the code your app shows now."))
        return render(
            request, "patients/account_authenticator.html", {"form": form, "device": confirmed}
        )
    device = authenticator.totp_enrol_start(
        user=user, device_id=request.session.get(TOTP_ENROLMENT)
    )
    request.session[TOTP_ENROLMENT] = device.pk
    if request.method == "POST" and form.is_valid():
        if authenticator.totp_enrol_confirm(
            request=request, user=user, device_id=device.pk, code=form.cleaned_data["code"]
        ):
            request.session.pop(TOTP_ENROLMENT, None)
            sessions.authenticator_passed(request)
            request.session[NEW_RECOVERY_CODES] = recovery.recovery_codes_generate(
                request=request, user=user
            )
            messages.success(request, _("Your authenticator app is set up."))
            return redirect("portal:account-recovery-codes")
        form.add_error("code", _("That code is not right. Scan the code again and try once more."))
    qr = segno.make(device.config_url, error="m")
    context = {
        "form": form,
        "qr_svg": qr.svg_inline(scale=5, title=_("QR code for your authenticator app")),
        "secret": _base32(device.bin_key),
    }
    return render(request, "patients/account_authenticator.html", context)


NEW_RECOVERY_CODES = "portal_new_recovery_codes"


@patient_required
def account_recovery_codes(request):
    """The recovery codes: new ones shown once (right after they are made), and a
    button to make new ones, which voids the old."""
    user = request.user
    if authenticator.totp_device_for(user) is None:
        return redirect("portal:account-authenticator")
    if request.method == "POST":
        request.session[NEW_RECOVERY_CODES] = recovery.recovery_codes_generate(
            request=request, user=user
        )
        return redirect("portal:account-recovery-codes")
    codes = request.session.pop(NEW_RECOVERY_CODES, None)
    context = {
        "codes": codes,
        "left": recovery.recovery_codes_left(user),
        "continue_to": next_take(request) if codes else None,
    }
    return render(request, "patients/account_recovery_codes.html", context)


def _base32(key):
    import base64

    text = base64.b32encode(key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@require_POST
@patient_required(allow_password_change=True, allow_mfa_enrol=True)
def account_signout_everywhere(request):
    sessions.account_end_all_sessions(request=request, user=request.user)
    sessions.portal_logout(request, reason="all_devices")
    messages.success(request, _("You are signed out on every device."))
    return redirect("portal:start")


@patient_required
def account_activity_view(request):
    events = account_activity(clinic=request.clinic, user=request.user, access=request.access)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    rows = activity_rows(page, viewer=request.user)
    return render(request, "patients/account_activity.html", {"page": page, "rows": rows})
