"""Services for chart details: patients ask, staff decide (the Patient Requests queue).

A patient never writes to the chart. A request records, per field, the chart's value
when asked and the value proposed; staff accept all, decline all, or decide per field.
An accepted change is applied in one transaction under row locks on the request and the
chart, so two staff deciding at once apply it once; if the chart changed since the
request was made, nothing is applied until staff choose what wins.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import models, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from patients.accounts import ContactTaken, account_contact_set, grant_self
from patients.contacts import preferred_contact
from patients.models import (
    ChangeRequest,
    ChangeRequestItem,
    PasscodeDevice,
    Patient,
    PatientAccess,
    PatientIdentifier,
    VerificationRequest,
)
from patients.passcodes import ContactProof
from patients.selectors import NOT_A_REGISTRATION, link_refusal
from portal.audit.services import audit_record
from portal.core.phones import phone_display
from portal.notifications.services import notify

# The chart fields a patient may ask to change, in display order.
DEMOGRAPHIC_FIELDS = [
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "mobile",
    "home_phone",
    "email",
    "preferred_language",
    "emergency_contact_name",
    "emergency_contact_relationship",
    "emergency_contact_phone",
]
SIGN_IN_CONTACT_FIELDS = ("email", "mobile")


def field_label(name: str) -> str:
    if name.startswith(UNPROVEN_PREFIX):
        label = field_label(name.removeprefix(UNPROVEN_PREFIX))
        return _("%(field)s (not proven)") % {"field": label}
    return str(Patient._meta.get_field(name).verbose_name).capitalize()


def as_text(value) -> str:
    """How a chart value is stored in a request (dates ISO, phones E.164)."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def chart_values(patient: Patient) -> dict[str, str]:
    return {name: as_text(getattr(patient, name)) for name in DEMOGRAPHIC_FIELDS}


def display_value(name: str, text: str) -> str:
    """A stored value as staff and patients read it: choice labels, not codes; phone
    numbers and dates as the clinic and the language write them."""
    field = Patient._meta.get_field(name.removeprefix(UNPROVEN_PREFIX))
    if not text:
        return text
    if isinstance(field, PhoneNumberField):
        return phone_display(text)
    if isinstance(field, models.DateField):
        try:
            return formats.date_format(dt.date.fromisoformat(text), "DATE_FORMAT")
        except ValueError:
            return text
    if field.choices and not name.startswith(UNPROVEN_PREFIX):
        return str(dict(field.flatchoices).get(text, text))
    return text


def _from_text(name: str, text: str):
    if name == "date_of_birth":
        return dt.date.fromisoformat(text)
    return text


class NothingChanged(Exception):  # noqa: N818
    pass


@transaction.atomic
def change_request_create(*, request, patient: Patient, requested_by, proposed: dict):
    """Record a request for every field whose proposed value differs from the chart.

    Raises NothingChanged when no field differs. Unknown fields are ignored, so a
    forged form cannot reach other columns.
    """
    current = chart_values(patient)
    changes = {
        name: as_text(value)
        for name, value in proposed.items()
        if name in DEMOGRAPHIC_FIELDS and as_text(value) != current[name]
    }
    if not changes:
        raise NothingChanged
    change_request = ChangeRequest.objects.create(
        clinic=patient.clinic,
        patient=patient,
        kind=ChangeRequest.Kind.CHANGE,
        requested_by=requested_by,
    )
    ChangeRequestItem.objects.bulk_create(
        ChangeRequestItem(
            clinic=patient.clinic,
            request=change_request,
            field=name,
            old_value=current[name],
            new_value=new,
        )
        for name, new in changes.items()
    )
    audit_record(
        action="change_request.created",
        request=request,
        clinic=patient.clinic,
        actor=requested_by,
        obj=change_request,
        acting_for=patient,
        details={"changes": {name: [current[name], new] for name, new in changes.items()}},
    )
    return change_request


# How an unproven contact typed at registration is kept in the request: staff see it,
# it is never written to the chart, and nothing is sent to it.
UNPROVEN_PREFIX = "unproven_"


def registration_request_create(
    *, patient: Patient, requested_by, unproven: dict | None = None
) -> ChangeRequest:
    """Queue a self-registration for staff: the details the new patient gave.

    ``unproven`` holds contacts the person typed but did not prove (kept as items named
    ``unproven_<field>``, shown to staff, applied nowhere)."""
    values = chart_values(patient)
    values.update({f"{UNPROVEN_PREFIX}{k}": str(v) for k, v in (unproven or {}).items()})
    change_request = ChangeRequest.objects.create(
        clinic=patient.clinic,
        patient=patient,
        kind=ChangeRequest.Kind.REGISTRATION,
        requested_by=requested_by,
    )
    ChangeRequestItem.objects.bulk_create(
        ChangeRequestItem(
            clinic=patient.clinic, request=change_request, field=name, new_value=value
        )
        for name, value in values.items()
        if value
    )
    return change_request


def verification_request_queue(*, verification: VerificationRequest) -> ChangeRequest:
    """Queue an identity confirmation for staff."""
    change_request, _created = ChangeRequest.objects.get_or_create(
        verification=verification,
        defaults={
            "clinic": verification.clinic,
            "patient": verification.patient,
            "kind": ChangeRequest.Kind.VERIFICATION,
            "requested_by": verification.user,
        },
    )
    return change_request


@transaction.atomic
def change_request_withdraw(*, request, change_request: ChangeRequest, user) -> bool:
    locked = ChangeRequest.objects.select_for_update().get(pk=change_request.pk)
    if not locked.is_pending or locked.kind != ChangeRequest.Kind.CHANGE:
        return False
    locked.status = ChangeRequest.Status.WITHDRAWN
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_at"])
    audit_record(
        action="change_request.withdrawn",
        request=request,
        clinic=locked.clinic,
        actor=user,
        obj=locked,
        acting_for=locked.patient,
    )
    return True


@dataclass
class Conflict:
    field: str
    label: str
    asked_over: str  # the chart's value when the patient asked
    chart_now: str
    proposed: str


class ChartChanged(Exception):  # noqa: N818
    """The chart changed since the request; staff must choose (nothing was applied)."""

    def __init__(self, conflicts: list[Conflict]):
        super().__init__([c.field for c in conflicts])
        self.conflicts = conflicts


class AlreadyDecided(Exception):  # noqa: N818
    pass


def change_request_decide(
    *,
    request,
    change_request: ChangeRequest,
    decided_by,
    accept: set[str],
    overwrite: set[str] = frozenset(),
    decline_reason: str = "",
) -> ChangeRequest:
    """Accept the fields in ``accept`` and decline the rest, in one transaction.

    A field whose chart value changed since the request is applied only if it is also in
    ``overwrite``; otherwise ChartChanged is raised and nothing is applied. Deciding a
    request that is no longer pending raises AlreadyDecided (two staff at once: the
    second is told, the change is applied once).
    """
    with transaction.atomic():
        locked = (
            ChangeRequest.objects.select_for_update(of=("self",))
            .select_related("clinic", "verification")
            .get(pk=change_request.pk)
        )
        if not locked.is_pending:
            raise AlreadyDecided
        patient = Patient.objects.select_for_update().get(pk=locked.patient_id)
        items = list(locked.items.all())
        if locked.kind == ChangeRequest.Kind.CHANGE:
            _apply_changes(request, locked, patient, items, accept, overwrite, decided_by)
        else:
            _decide_whole(request, locked, patient, items, bool(accept), decided_by)
        accepted = [i for i in items if i.decision == ChangeRequestItem.Decision.ACCEPTED]
        if locked.kind != ChangeRequest.Kind.CHANGE:
            locked.status = (
                ChangeRequest.Status.ACCEPTED if accept else ChangeRequest.Status.DECLINED
            )
        elif not accepted:
            locked.status = ChangeRequest.Status.DECLINED
        elif len(accepted) == len(items):
            locked.status = ChangeRequest.Status.ACCEPTED
        else:
            locked.status = ChangeRequest.Status.PARTLY
        locked.decided_at = timezone.now()
        locked.decided_by = decided_by
        locked.decline_reason = decline_reason[:500]
        locked.save(update_fields=["status", "decided_at", "decided_by", "decline_reason"])
        audit_record(
            action=f"change_request.{locked.status}",
            request=request,
            clinic=locked.clinic,
            actor=decided_by,
            obj=locked,
            acting_for=patient,
            details={"accepted": [i.field for i in accepted]},
        )
        if locked.kind != ChangeRequest.Kind.VERIFICATION:
            _tell_patient(patient, locked)
    return locked


def _apply_changes(request, locked, patient, items, accept, overwrite, decided_by):
    conflicts = []
    for item in items:
        if item.field not in accept:
            continue
        now = as_text(getattr(patient, item.field))
        if now != item.old_value and now != item.new_value and item.field not in overwrite:
            conflicts.append(
                Conflict(item.field, field_label(item.field), item.old_value, now, item.new_value)
            )
    if conflicts:
        raise ChartChanged(conflicts)
    before, after = {}, {}
    for item in items:
        if item.field in accept:
            before[item.field] = as_text(getattr(patient, item.field))
            setattr(patient, item.field, _from_text(item.field, item.new_value))
            after[item.field] = item.new_value
            item.decision = ChangeRequestItem.Decision.ACCEPTED
        else:
            item.decision = ChangeRequestItem.Decision.DECLINED
    ChangeRequestItem.objects.bulk_update(items, ["decision"])
    if after:
        patient.full_clean(exclude=[f.name for f in Patient._meta.fields if f.name not in after])
        patient.save(update_fields=list(after))
        audit_record(
            action="patient.changed",
            request=request,
            clinic=patient.clinic,
            actor=decided_by,
            obj=patient,
            acting_for=patient,
            details={"changes": {name: [before[name], after[name]] for name in after}},
        )
        _move_sign_in_contacts(request, locked, patient, after, decided_by)


# How long before its change request a new contact's code may have been proven (a
# request confirms each new contact in turn, each code valid for minutes).
PROOF_BEFORE_REQUEST = dt.timedelta(hours=1)


def _move_sign_in_contacts(request, change_request, patient, accepted: dict, decided_by):
    """An accepted change of the patient's own email or mobile moves their account's
    sign-in contact at the same moment, when the patient asked for it from their own
    account and proved the new contact with a code while making the request (its session
    passed the account's authenticator, if it has one, at sign-in). A representative's
    request changes the chart (the clinic's record) and never another person's sign-in
    contact.
    """
    requester = change_request.requested_by
    if requester is None:
        return
    is_own = (
        PatientAccess.objects.for_clinic(patient.clinic_id)
        .active()
        .filter(user=requester, patient=patient, relationship=PatientAccess.Relationship.SELF)
        .exists()
    )
    if not is_own:
        return
    for field, channel in (("email", "email"), ("mobile", "sms")):
        new = accepted.get(field)
        if not new:
            continue
        proven = (
            PasscodeDevice.objects.for_clinic(patient.clinic_id)
            .filter(
                user=requester,
                purpose=PasscodeDevice.Purpose.CONTACT_CHANGE,
                channel=channel,
                destination=new,
                # The code proved while this request was being made, not some other time.
                proven_at__gte=change_request.created_at - PROOF_BEFORE_REQUEST,
                proven_at__lte=change_request.created_at,
            )
            .exists()
        )
        if not proven:
            continue
        try:
            account_contact_set(
                request=request,
                user=requester,
                proof=ContactProof(patient.clinic_id, channel, new),
                reason="change_request",
            )
        except ContactTaken:
            audit_record(
                action="account.contact_not_moved",
                request=request,
                clinic=patient.clinic,
                actor=decided_by,
                obj=change_request,
                acting_for=patient,
                details={"channel": channel},
            )


def _decide_whole(request, locked, patient, items, accepted, decided_by):
    decision = (
        ChangeRequestItem.Decision.ACCEPTED if accepted else ChangeRequestItem.Decision.DECLINED
    )
    for item in items:
        item.decision = decision
    ChangeRequestItem.objects.bulk_update(items, ["decision"])
    if locked.kind == ChangeRequest.Kind.REGISTRATION:
        patient.status = Patient.Status.ACTIVE if accepted else Patient.Status.INACTIVE
        patient.save(update_fields=["status"])
    elif locked.kind == ChangeRequest.Kind.VERIFICATION:
        decide = verification_accept if accepted else verification_decline
        decide(request=request, verification=locked.verification, decided_by=decided_by)


def _tell_patient(patient, change_request):
    contact = preferred_contact(email=patient.email, mobile=patient.mobile)
    if contact is None:
        return
    notify(
        clinic=patient.clinic,
        channel=contact[0],
        recipient=contact[1],
        template="request_decided",
        context={"change_request_id": change_request.pk},
        language=patient.preferred_language,
    )


# --- Identity confirmations: a person proved a contact not on the chart they named -------


def _close_queue_entry(verification, decided_by):
    """Keep the Patient Requests queue in step when staff decide elsewhere."""
    ChangeRequest.objects.filter(
        verification=verification, status=ChangeRequest.Status.PENDING
    ).update(
        status=(
            ChangeRequest.Status.ACCEPTED
            if verification.status == VerificationRequest.Status.ACCEPTED
            else ChangeRequest.Status.DECLINED
        ),
        decided_at=verification.decided_at,
        decided_by=decided_by,
    )


def _verification_decide(
    *, request, verification, decided_by, status
) -> VerificationRequest | None:
    """Record the decision once (row lock); None when someone already decided."""
    verification = VerificationRequest.objects.select_for_update().get(pk=verification.pk)
    if verification.status != VerificationRequest.Status.PENDING:
        return None
    verification.status = status
    verification.decided_at = timezone.now()
    verification.decided_by = decided_by
    verification.save(update_fields=["status", "decided_at", "decided_by"])
    _close_queue_entry(verification, decided_by)
    audit_record(
        action=f"verification.{status}",
        request=request,
        actor=decided_by,
        clinic=verification.clinic,
        acting_for=verification.patient,
        obj=verification,
    )
    return verification


@transaction.atomic
def verification_accept(*, request, verification: VerificationRequest, decided_by) -> bool:
    """Link the person's account to the chart. Returns False if already decided.

    The person signs in afterwards like anyone else: with a code to the contact they
    proved (their account's sign-in contact) and their authenticator if they have one.
    """
    decided = _verification_decide(
        request=request,
        verification=verification,
        decided_by=decided_by,
        status=VerificationRequest.Status.ACCEPTED,
    )
    if decided is None:
        return False
    grant_self(decided.clinic, decided.user, decided.patient)
    return True


@transaction.atomic
def verification_decline(*, request, verification: VerificationRequest, decided_by) -> bool:
    """Tell the person the clinic could not confirm them. Returns False if already decided."""
    decided = _verification_decide(
        request=request,
        verification=verification,
        decided_by=decided_by,
        status=VerificationRequest.Status.DECLINED,
    )
    if decided is None:
        return False
    notify(
        clinic=decided.clinic,
        channel=decided.channel,
        recipient=decided.destination,
        template="verification_declined",
        context={"verification_id": decided.pk},
        # The person gave this chart's ID; nothing else says which language they read.
        language=decided.patient.preferred_language,
    )
    return True


class CannotLink(Exception):  # noqa: N818
    """The registration may not be attached to that chart (``reason`` says why)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def registration_link_to_chart(
    *, request, change_request: ChangeRequest, chart_id: int, decided_by
) -> ChangeRequest:
    """Attach a pending self-registration to a chart the clinic already had, instead of
    the new chart it made. Staff confirm it first (the admin's confirmation page).

    In one transaction, under row locks on the request and both charts: the person's
    account gets its own-chart grant on ``chart`` and loses the one on the new chart,
    which becomes inactive; the ID they typed moves to ``chart``; the request is
    ``linked`` (decided, by whom, to which chart) and audited; the patient is told at the
    chart's contact (which they proved). Refused with CannotLink per ``link_refusal``
    (checked again under the locks), AlreadyDecided when someone decided first. Any
    caller (admin, API, task) goes through here.
    """
    with transaction.atomic():
        locked = (
            ChangeRequest.objects.select_for_update(of=("self",))
            .select_related("clinic", "requested_by")
            .get(pk=change_request.pk)
        )
        if not locked.is_pending:
            raise AlreadyDecided
        if locked.kind != ChangeRequest.Kind.REGISTRATION or locked.requested_by is None:
            raise CannotLink(NOT_A_REGISTRATION)
        clinic = locked.clinic
        charts = {
            c.pk: c
            for c in Patient.objects.for_clinic(clinic)
            .select_for_update()
            .filter(pk__in=[locked.patient_id, chart_id])
            .order_by("pk")
        }
        registration, chart = charts.get(locked.patient_id), charts.get(chart_id)
        if registration is None or chart is None:
            raise CannotLink(NOT_A_REGISTRATION)
        account = locked.requested_by
        reason = link_refusal(registration=registration, account=account, chart=chart)
        if reason is not None:
            raise CannotLink(reason)
        now = timezone.now()
        for grant in (
            PatientAccess.objects.for_clinic(clinic)
            .active()
            .filter(user=account, patient=registration)
        ):
            grant.revoked_at = now
            grant.save(update_fields=["revoked_at"])
        grant_self(clinic, account, chart)
        for identifier in PatientIdentifier.objects.for_clinic(clinic).filter(patient=registration):
            if (
                not PatientIdentifier.objects.for_clinic(clinic)
                .filter(patient=chart, id_type_id=identifier.id_type_id)
                .exists()
            ):
                identifier.patient = chart
                identifier.save(update_fields=["patient"])
        registration.status = Patient.Status.INACTIVE
        registration.save(update_fields=["status"])
        locked.items.update(decision=ChangeRequestItem.Decision.DECLINED)
        locked.status = ChangeRequest.Status.LINKED
        locked.linked_chart = chart
        locked.decided_at = now
        locked.decided_by = decided_by
        locked.save(update_fields=["status", "linked_chart", "decided_at", "decided_by"])
        audit_record(
            action="change_request.linked",
            request=request,
            clinic=clinic,
            actor=decided_by,
            obj=locked,
            acting_for=chart,
            details={"registration_chart": registration.pk, "chart": chart.pk},
        )
        _tell_patient(chart, locked)
    return locked


STATUS_MESSAGES = {
    ChangeRequest.Status.PENDING: _("Waiting for the clinic"),
    ChangeRequest.Status.ACCEPTED: _("Accepted"),
    ChangeRequest.Status.PARTLY: _("Partly accepted"),
    ChangeRequest.Status.DECLINED: _("Declined"),
    ChangeRequest.Status.WITHDRAWN: _("Withdrawn"),
    ChangeRequest.Status.LINKED: _("Linked to your chart at the clinic"),
}
