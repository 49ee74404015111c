"""What a proven contact leads to: a chart's sign-in, a new registration, or a request
for staff to confirm the person; and the staff decision on such a request.

Nothing here starts a session: the views hand the account and the proofs to
``patients.signin.signin_complete``. A chart's email and mobile (the clinic's record)
never decide which account someone reaches: only an account's own sign-in contacts
do (``patients.accounts``).
"""

import enum
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from clinics.models import IdentifierType, User
from patients.accounts import account_create, account_for_contact, grant_self
from patients.demographics import (
    registration_request_create,
    verification_request_queue,
)
from patients.models import (
    Patient,
    PatientAccess,
    PatientIdentifier,
    VerificationRequest,
)
from patients.passcodes import ContactProof
from patients.representation import chart_has_representatives
from portal.audit.services import audit_record
from portal.core.identifiers import InvalidIdentifier, canonical_email, canonical_id_number


class Outcome(enum.Enum):
    SIGN_IN = "sign_in"  # hand ``user`` (and ``patient``) to signin_complete
    REGISTER = "register"  # no chart has this ID (``user``: an account with the contact)
    VERIFY = "verify"  # staff confirm the person; nothing is shown
    INELIGIBLE = "ineligible"
    REVOKED = "revoked"


@dataclass
class Resolution:
    outcome: Outcome
    user: User | None = None
    patient: Patient | None = None


def chart_has_contact(patient: Patient, proof: ContactProof) -> bool:
    """Whether the chart's own email or mobile is the proven destination (canonically)."""
    if proof.channel == "email":
        try:
            return bool(patient.email) and canonical_email(patient.email) == proof.destination
        except InvalidIdentifier:
            return False
    return bool(patient.mobile) and str(patient.mobile) == proof.destination


def chart_for_id(*, clinic, id_type: str, id_number: str) -> Patient | None:
    try:
        number = canonical_id_number(id_number)
    except InvalidIdentifier:
        return None
    identifier = (
        PatientIdentifier.objects.for_clinic(clinic)
        .filter(id_type__code=id_type, number=number)
        .select_related("patient__category")
        .first()
    )
    return identifier.patient if identifier else None


def _self_account(clinic, patient) -> User | None:
    grant = (
        PatientAccess.objects.for_clinic(clinic)
        .active()
        .filter(patient=patient, relationship=PatientAccess.Relationship.SELF)
        .select_related("user")
        .first()
    )
    return grant.user if grant else None


@transaction.atomic
def signin_resolve(*, request, clinic, id_type, id_number, proof: ContactProof) -> Resolution:
    """After a code proved ``proof.destination``: which account signs in, or what else.

    - The account whose sign-in contact is the proven one, if it holds a grant to the
      chart of this ID, signs in (for the patient or as their representative).
    - A chart whose own contact is the proven one, that has no portal account yet and
      that nobody else acts for, gets a new account with that sign-in contact (first
      sign-in). A representative could have put their own address on the chart.
    - No chart has the ID: registration (for the contact's account, if any, after it
      completed sign-in).
    - Anything else asks staff to confirm the person: a contact on the chart never
      reaches an account whose holder did not prove it.
    """
    if proof.clinic_id != clinic.pk:
        raise ValueError("a proof from another clinic")
    patient = chart_for_id(clinic=clinic, id_type=id_type, id_number=id_number)
    account = account_for_contact(
        clinic=clinic, channel=proof.channel, destination=proof.destination
    )
    if patient is None:
        return Resolution(Outcome.REGISTER, user=account)
    represents = (
        account is not None
        and PatientAccess.objects.for_clinic(clinic)
        .active()
        .filter(user=account, patient=patient)
        .exists()
    )
    contact_matches = chart_has_contact(patient, proof)
    if represents or contact_matches:
        if patient.portal_revoked_at:
            return Resolution(Outcome.REVOKED, patient=patient)
        if not patient.portal_eligible:
            return Resolution(Outcome.INELIGIBLE, patient=patient)
    if represents:
        return Resolution(Outcome.SIGN_IN, user=account, patient=patient)
    if (
        contact_matches
        and account is None
        and _self_account(clinic, patient) is None
        and not chart_has_representatives(patient)
    ):
        try:
            with transaction.atomic():
                account = account_create(
                    clinic=clinic,
                    proof=proof,
                    first_name=patient.first_name,
                    last_name=patient.last_name,
                )
        except IntegrityError:
            # Another request made the account for this contact a moment ago.
            account = account_for_contact(
                clinic=clinic, channel=proof.channel, destination=proof.destination
            )
            return (
                Resolution(Outcome.VERIFY, user=account) if account else Resolution(Outcome.VERIFY)
            )
        grant_self(clinic, account, patient)
        return Resolution(Outcome.SIGN_IN, user=account, patient=patient)
    if account is None:
        try:
            with transaction.atomic():
                account = account_create(clinic=clinic, proof=proof)
        except IntegrityError:
            account = account_for_contact(
                clinic=clinic, channel=proof.channel, destination=proof.destination
            )
    _verification_request(request, clinic, patient, account, proof)
    return Resolution(Outcome.VERIFY, user=account)


def _verification_request(request, clinic, patient, user, proof):
    try:
        with transaction.atomic():
            verification = VerificationRequest.objects.create(
                clinic=clinic,
                patient=patient,
                user=user,
                channel=proof.channel,
                destination=proof.destination,
            )
    except IntegrityError:
        # One is already pending for this person and chart.
        verification = VerificationRequest.objects.get(
            patient=patient, user=user, status=VerificationRequest.Status.PENDING
        )
    verification_request_queue(verification=verification)
    audit_record(
        action="verification.requested",
        request=request,
        clinic=clinic,
        actor=user,
        acting_for=patient,
    )


@dataclass
class Registration:
    first_name: str
    last_name: str
    date_of_birth: object
    sex: str
    address_line1: str
    city: str
    region: str
    postal_code: str
    mobile: str
    email: str
    preferred_language: str


class AlreadyRegistered(Exception):  # noqa: N818
    """Another registration took this ID, or an account took this contact, meanwhile."""


class SignInFirst(Exception):  # noqa: N818
    """An account has the proven contact: only that account, signed in, may register."""


def patient_self_register(
    *, request, clinic, id_type, id_number, proof: ContactProof, data: Registration
) -> Resolution:
    """Create a chart marked self-registered, pending verification, with its account.

    The chart's contact for the proven channel is the proven destination and nothing
    else; the other contact the person typed is kept, unproven, in the registration
    request for staff and receives nothing. When an account already has the proven
    contact, it must be the account signed in on this request (it completed sign-in,
    its authenticator included, in this flow): SignInFirst otherwise.
    """
    if proof.clinic_id != clinic.pk:
        raise ValueError("a proof from another clinic")
    existing = account_for_contact(
        clinic=clinic, channel=proof.channel, destination=proof.destination
    )
    signed_in = request.user if request.user.is_authenticated else None
    if existing is not None and (signed_in is None or signed_in.pk != existing.pk):
        raise SignInFirst
    proven_field = "email" if proof.channel == "email" else "mobile"
    other_field = "mobile" if proven_field == "email" else "email"
    unproven = {other_field: getattr(data, other_field) or ""}
    try:
        with transaction.atomic():
            patient = Patient.objects.create(
                clinic=clinic,
                status=Patient.Status.PENDING,
                self_registered=True,
                first_name=data.first_name,
                last_name=data.last_name,
                date_of_birth=data.date_of_birth,
                sex=data.sex,
                address_line1=data.address_line1,
                city=data.city,
                region=data.region,
                postal_code=data.postal_code,
                preferred_language=data.preferred_language,
                **{proven_field: proof.destination},
            )
            PatientIdentifier.objects.create(
                clinic=clinic,
                patient=patient,
                id_type=IdentifierType.objects.for_clinic(clinic).get(code=id_type),
                number=id_number,
            )
            user = existing or account_create(
                clinic=clinic,
                proof=proof,
                first_name=data.first_name,
                last_name=data.last_name,
            )
            grant_self(clinic, user, patient)
            registration_request_create(
                patient=patient,
                requested_by=user,
                unproven={k: v for k, v in unproven.items() if v},
            )
            audit_record(
                action="patient.self_registered",
                request=request,
                clinic=clinic,
                actor=user,
                obj=patient,
                acting_for=patient,
            )
    except IntegrityError as exc:
        raise AlreadyRegistered from exc
    return Resolution(Outcome.SIGN_IN, user=user, patient=patient)


def has_own_chart(*, clinic, user) -> bool:
    return (
        PatientAccess.objects.for_clinic(clinic)
        .active()
        .filter(user=user, relationship=PatientAccess.Relationship.SELF)
        .exists()
    )
