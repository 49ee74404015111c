"""My information: the chart's details, requests to change them, notice preferences."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from patients import demographics
from patients.access import patient_required
from patients.demographics import DEMOGRAPHIC_FIELDS, display_value, field_label
from patients.drafts import draft_take, keeps_draft
from patients.forms import (
    TOO_MANY_TRIES_TEXT,
    CodeForm,
    DemographicsForm,
    NoticePreferencesForm,
)
from patients.locks import subject_for_user
from patients.models import ChangeRequest, PasscodeDevice
from patients.passcodes import Proof, passcode_issue, passcode_verify
from portal.audit.services import audit_record

PENDING_CHANGE = "portal_pending_change"


def _rows(patient):
    values = demographics.chart_values(patient)
    return [(field_label(name), display_value(name, values[name])) for name in DEMOGRAPHIC_FIELDS]


def _requests(patient):
    requests = (
        ChangeRequest.objects.for_clinic(patient.clinic_id)
        .filter(patient=patient, kind=ChangeRequest.Kind.CHANGE)
        .prefetch_related("items")
        .order_by("-created_at")[:10]
    )
    return [
        (
            change_request,
            demographics.STATUS_MESSAGES[change_request.status],
            [
                (
                    field_label(i.field),
                    display_value(i.field, i.old_value),
                    display_value(i.field, i.new_value),
                    i.get_decision_display(),
                )
                for i in change_request.items.all()
            ],
        )
        for change_request in requests
    ]


@patient_required(scope="demographics")
def my_information(request):
    patient = request.patient
    audit_record(action="patient.viewed", request=request, obj=patient, acting_for=patient)
    context = {
        "rows": _rows(patient),
        "requests": _requests(patient),
        "preferences": NoticePreferencesForm(instance=patient),
    }
    return render(request, "patients/my_information.html", context)


@keeps_draft(*DEMOGRAPHIC_FIELDS)
@patient_required(scope="demographics")
def my_information_edit(request):
    patient = request.patient
    initial = {name: getattr(patient, name) for name in DEMOGRAPHIC_FIELDS}
    initial = {
        k: ("" if v is None else str(v) if k.endswith("phone") or k == "mobile" else v)
        for k, v in initial.items()
    }
    if request.method != "POST":
        initial.update(draft_take(request) or {})
    form = DemographicsForm(request.POST or None, clinic=request.clinic, initial=initial)
    if request.method == "POST" and form.is_valid():
        proposed = form.cleaned_data
        current = demographics.chart_values(patient)
        to_confirm = [
            (channel, proposed[field])
            for field, channel in (("email", "email"), ("mobile", "sms"))
            if proposed[field] and proposed[field] != current[field]
        ]
        if not to_confirm:
            return _submit(request, patient, proposed)
        request.session[PENDING_CHANGE] = {
            "patient": patient.pk,
            "proposed": {k: demographics.as_text(v) for k, v in proposed.items()},
            "to_confirm": to_confirm,
        }
        return _send_confirmation(request)
    return render(request, "patients/my_information_edit.html", {"form": form})


def _submit(request, patient, proposed):
    try:
        demographics.change_request_create(
            request=request, patient=patient, requested_by=request.user, proposed=proposed
        )
    except demographics.NothingChanged:
        messages.info(request, _("Nothing was changed."))
        return redirect("portal:my-information")
    messages.success(
        request, _("Your request was sent to the clinic. Your chart changes once they accept it.")
    )
    return redirect("portal:my-information")


def _send_confirmation(request):
    pending = request.session[PENDING_CHANGE]
    channel, destination = pending["to_confirm"][0]
    device, refused = passcode_issue(
        request=request,
        clinic=request.clinic,
        purpose=PasscodeDevice.Purpose.CONTACT_CHANGE,
        channel=channel,
        destination=destination,
        user=request.user,
    )
    if device is None:
        request.session.pop(PENDING_CHANGE, None)
        messages.error(request, _("We could not send a code to the new contact now. Try later."))
        return redirect("portal:my-information")
    pending["device"] = device.pk
    pending["flow"] = str(device.flow)
    request.session[PENDING_CHANGE] = pending
    return redirect("portal:my-information-confirm")


@patient_required(scope="demographics")
def my_information_confirm(request):
    """A new email or mobile is confirmed with a code sent to it before the request goes."""
    pending = request.session.get(PENDING_CHANGE)
    if not pending or pending.get("patient") != request.patient.pk or not pending.get("device"):
        return redirect("portal:my-information")
    channel, destination = pending["to_confirm"][0]
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = passcode_verify(
            request=request,
            clinic=request.clinic,
            device_id=pending["device"],
            flow=pending["flow"],
            purpose=PasscodeDevice.Purpose.CONTACT_CHANGE,
            code=form.cleaned_data["code"],
            subjects=[(subject_for_user(request.user), request.user)],
        )
        if result.outcome is Proof.OK:
            pending["to_confirm"] = pending["to_confirm"][1:]
            request.session[PENDING_CHANGE] = pending
            if pending["to_confirm"]:
                return _send_confirmation(request)
            request.session.pop(PENDING_CHANGE, None)
            return _submit(request, request.patient, pending["proposed"])
        if result.outcome is Proof.LOCKED:
            request.session.pop(PENDING_CHANGE, None)
            messages.error(request, _("Too many wrong codes. Try again later."))
            return redirect("portal:my-information")
        if result.outcome is Proof.TOO_MANY_TRIES:
            form.add_error("code", TOO_MANY_TRIES_TEXT)
        else:
            form.add_error("code", _("That code is not right, or it has expired."))
    context = {"form": form, "channel": channel, "destination": destination}
    return render(request, "patients/my_information_confirm.html", context)


@require_POST
@patient_required(scope="demographics")
def request_withdraw(request, pk):
    change_request = get_object_or_404(
        ChangeRequest.objects.for_clinic(request.clinic),
        pk=pk,
        patient=request.patient,
        kind=ChangeRequest.Kind.CHANGE,
    )
    if demographics.change_request_withdraw(
        request=request, change_request=change_request, user=request.user
    ):
        messages.success(request, _("Your request was withdrawn."))
    else:
        messages.info(request, _("The clinic already answered this request."))
    return redirect("portal:my-information")


@require_POST
@patient_required(scope="demographics")
def notice_preferences(request):
    """The patient's own choice; it applies at once, without review."""
    form = NoticePreferencesForm(request.POST, instance=request.patient)
    if form.is_valid():
        # Only the two fields: the chart came with the account's cached grants and must
        # not write its other columns back over a change staff made meanwhile.
        form.save(commit=False).save(update_fields=list(form.fields))
        audit_record(
            action="patient.preferences_changed",
            request=request,
            obj=request.patient,
            acting_for=request.patient,
            details={f: form.cleaned_data[f] for f in form.fields},
        )
        messages.success(request, _("Your notice preferences are saved."))
    else:
        messages.error(request, _("Choose one of the options shown."))
    return redirect("portal:my-information")
