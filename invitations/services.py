"""Staff-sent registration links, and revoking portal access."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinics.models import User
from invitations.models import Invitation
from patients.accounts import account_create, holds_contact
from patients.models import Patient, PatientAccess
from patients.passcodes import ContactProof
from patients.representation import chart_has_representatives
from portal.audit.services import audit_record
from portal.core.identifiers import InvalidIdentifier, canonical_contact
from portal.core.tokens import token_digest
from portal.notifications.services import notify


class MissingContact(Exception):  # noqa: N818 - the condition staff are told about
    """The chosen channel has no contact on file."""


class ChannelDisabled(Exception):  # noqa: N818
    """The clinic does not send by this channel."""


class Represented(Exception):  # noqa: N818
    """Someone else acts, acted or was invited to act for this patient: the chart's
    contacts may be theirs, so no link for the patient's own account goes to them.
    The patient signs in with their ID and staff confirm the person instead."""


def representative_invited(patient: Patient) -> bool:
    """A representative invitation was sent for the chart (any state): registered in
    ``patients.representation.representation_checks``."""
    return (
        Invitation.objects.for_clinic(patient.clinic_id)
        .filter(patient=patient)
        .exclude(relationship=PatientAccess.Relationship.SELF)
        .exists()
    )


class RevokedByClinic(Exception):  # noqa: N818
    """Access was revoked; only someone who may revoke may grant it again."""


@dataclass
class Representative:
    name: str
    relationship: str
    destination: str
    can_appointments: bool = True
    can_messages: bool = True
    can_demographics: bool = True
    can_health_record: bool = False


def contact_on_file(patient: Patient, channel: str) -> str:
    return patient.email if channel == "email" else str(patient.mobile or "")


def invitation_send(
    *, patient: Patient, channel: str, sent_by, request=None, representative=None
) -> Invitation:
    """Send a registration link; a newer link to the same patient and person
    supersedes older ones. Clears an earlier revocation (access may be granted again),
    which only staff who may revoke may do (RevokedByClinic otherwise).

    Raises MissingContact when the chosen channel has nothing on file, and Represented
    for the patient's own link when someone else acts or acted for them.
    """
    clinic = patient.clinic
    if channel not in clinic.portal_settings.enabled_channels():
        raise ChannelDisabled(channel)
    if representative is None and chart_has_representatives(patient):
        raise Represented
    if patient.portal_revoked_at and not (
        sent_by is not None and sent_by.has_perm("patients.revoke_portal_access")
    ):
        raise RevokedByClinic
    destination = (
        representative.destination if representative else contact_on_file(patient, channel)
    )
    if not destination:
        raise MissingContact(channel)
    try:
        destination = canonical_contact(channel, destination, clinic.country)
    except InvalidIdentifier as exc:
        raise MissingContact(channel) from exc
    now = timezone.now()
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        same_person = Invitation.objects.for_clinic(clinic).filter(
            patient=patient,
            accepted_at__isnull=True,
            superseded_at__isnull=True,
            revoked_at__isnull=True,
        )
        if representative:
            same_person = same_person.filter(destination=destination)
        else:
            same_person = same_person.filter(relationship="self")
        same_person.update(superseded_at=now)
        if patient.portal_revoked_at:
            patient.portal_revoked_at = None
            patient.portal_revoked_by = None
            patient.save(update_fields=["portal_revoked_at", "portal_revoked_by"])
        invitation = Invitation.objects.create(
            clinic=clinic,
            patient=patient,
            channel=channel,
            destination=destination,
            expires_at=now + timedelta(hours=clinic.portal_settings.invitation_validity_hours),
            sent_by=sent_by,
            **(
                {
                    "relationship": representative.relationship,
                    "representative_name": representative.name,
                    "can_appointments": representative.can_appointments,
                    "can_messages": representative.can_messages,
                    "can_demographics": representative.can_demographics,
                    "can_health_record": representative.can_health_record,
                }
                if representative
                else {}
            ),
        )
        # Representatives have no language on file: the patient's, as for every other
        # notice about this patient (the invitation's pages have a language switch).
        language = patient.preferred_language
        notify(
            clinic=clinic,
            channel=channel,
            recipient=destination,
            template="invitation",
            context={"invitation_id": invitation.pk},
            language=language,
        )
        mobile = str(patient.mobile or "")
        if (
            channel == "email"
            and not representative
            and mobile
            and "sms" in clinic.portal_settings.enabled_channels()
        ):
            notify(
                clinic=clinic,
                channel="sms",
                recipient=mobile,
                template="invitation_notice",
                context={"invitation_id": invitation.pk},
                language=language,
            )
        audit_record(
            action="invitation.sent",
            request=request,
            clinic=clinic,
            actor=sent_by,
            obj=invitation,
            acting_for=patient,
            details={"channel": channel, "relationship": invitation.relationship},
        )
    return invitation


def invitation_resend(*, invitation: Invitation, sent_by, request=None) -> Invitation:
    representative = None
    if invitation.for_representative:
        representative = Representative(
            name=invitation.representative_name,
            relationship=invitation.relationship,
            destination=invitation.destination,
            can_appointments=invitation.can_appointments,
            can_messages=invitation.can_messages,
            can_demographics=invitation.can_demographics,
            can_health_record=invitation.can_health_record,
        )
    return invitation_send(
        patient=invitation.patient,
        channel=invitation.channel,
        sent_by=sent_by,
        request=request,
        representative=representative,
    )


def invitation_for_token(*, clinic, token: str) -> Invitation | None:
    """The invitation of this clinic with this token (of any state), or None."""
    if not token:
        return None
    return (
        Invitation.objects.for_clinic(clinic)
        .filter(token_hash=token_digest(token))
        .select_related("patient")
        .first()
    )


def invitation_check_dob(*, invitation: Invitation, date_of_birth) -> bool:
    """Five wrong dates of birth kill the link."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        # Guesses racing each other all wait here; once the link is dead none is answered.
        if invitation.state() != Invitation.State.VALID:
            return False
        if invitation.patient.date_of_birth == date_of_birth:
            return True
        invitation.dob_failures += 1
        invitation.save(update_fields=["dob_failures"])
    return False


class InvitationUnusable(Exception):  # noqa: N818
    pass


def invitation_proof(invitation: Invitation) -> ContactProof:
    """Opening the link and confirming the date of birth proves the contact it was sent to."""
    return ContactProof(invitation.clinic_id, invitation.channel, invitation.destination)


class ContactInUse(Exception):  # noqa: N818
    """An account (a staff account, or one made meanwhile) already has the contact."""


def _lock_valid(invitation: Invitation) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state() != Invitation.State.VALID:
        raise InvitationUnusable(invitation.state())
    if not invitation.for_representative and chart_has_representatives(invitation.patient):
        # Sent before anyone else acted for the patient: a representative's grant never
        # becomes the patient's own, nor does a representative's contact.
        raise Represented
    return invitation


def _grant(request, invitation: Invitation, user: User) -> PatientAccess:
    clinic = invitation.clinic
    PatientAccess.objects.for_clinic(clinic).active().filter(
        user=user, patient=invitation.patient
    ).update(revoked_at=timezone.now())
    grant = PatientAccess.objects.create(
        clinic=clinic,
        user=user,
        patient=invitation.patient,
        relationship=invitation.relationship,
        can_appointments=invitation.can_appointments,
        can_messages=invitation.can_messages,
        can_demographics=invitation.can_demographics,
        can_health_record=invitation.can_health_record,
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        action="invitation.accepted",
        request=request,
        clinic=clinic,
        actor=user,
        obj=invitation,
        acting_for=invitation.patient,
    )
    return grant


def invitation_accept(*, request, invitation: Invitation, user: User) -> PatientAccess:
    """Use the link once to give an existing account access to the chart (as the patient
    or for them).

    Only the account whose sign-in contact the link was sent to, signed in on this
    request (it completed sign-in, authenticator included), may accept: the access never
    joins whichever account happens to be signed in. InvitationUnusable otherwise, and
    when the link is no longer valid (a concurrent acceptance waits for the row lock
    and then finds it used).
    """
    if not (
        request is not None
        and request.user.is_authenticated
        and request.user.pk == user.pk
        and holds_contact(user, invitation_proof(invitation))
    ):
        raise InvitationUnusable("not the invited account")
    with transaction.atomic():
        invitation = _lock_valid(invitation)
        return _grant(request, invitation, user)


def invitation_accept_new_account(
    *, request, invitation: Invitation, password: str | None = None
) -> PatientAccess:
    """Use the link once to make the invited person's account and give it access.

    The account's sign-in contact is the one the link was sent to. The invitation row
    is locked first, so of concurrent acceptances one succeeds and the others get
    InvitationUnusable; ContactInUse when an account already has the contact. The
    caller then signs the person in through ``patients.signin.signin_complete`` with
    ``invitation_proof``.
    """
    proof = invitation_proof(invitation)
    try:
        with transaction.atomic():
            invitation = _lock_valid(invitation)
            patient = invitation.patient
            if invitation.for_representative:
                names = {"first_name": invitation.representative_name}
            else:
                names = {"first_name": patient.first_name, "last_name": patient.last_name}
            user = account_create(clinic=invitation.clinic, proof=proof, password=password, **names)
            return _grant(request, invitation, user)
    except IntegrityError as exc:
        raise ContactInUse from exc


def portal_access_revoke(*, patient: Patient, revoked_by, request=None) -> int:
    """End the patient's portal access at once: every outstanding link dies, every grant
    to the chart ends, and the patient's own sessions end on their next request. The
    patient and their representatives are told. Returns how many grants ended.
    """
    clinic = patient.clinic
    now = timezone.now()
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        Invitation.objects.for_clinic(clinic).filter(
            patient=patient, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        grants = list(
            PatientAccess.objects.for_clinic(clinic)
            .filter(patient=patient, revoked_at__isnull=True)
            .select_related("user")
        )
        PatientAccess.objects.filter(pk__in=[g.pk for g in grants]).update(revoked_at=now)
        told = set()
        for grant in grants:
            if grant.relationship == PatientAccess.Relationship.SELF:
                grant.user.end_all_sessions()
            contact = (
                ("email", grant.user.email)
                if grant.user.email
                else ("sms", str(grant.user.phone or ""))
            )
            if contact[1] and contact not in told:
                told.add(contact)
                notify(
                    clinic=clinic,
                    channel=contact[0],
                    recipient=contact[1],
                    template="portal_deactivated",
                    context={"patient_id": patient.pk},
                    # Representatives have no language on file: the patient's, as for
                    # every other notice about this patient.
                    language=patient.preferred_language,
                )
        patient.portal_revoked_at = now
        patient.portal_revoked_by = revoked_by
        patient.save(update_fields=["portal_revoked_at", "portal_revoked_by"])
        audit_record(
            action="portal.revoked",
            request=request,
            clinic=clinic,
            actor=revoked_by,
            obj=patient,
            acting_for=patient,
            details={"grants_ended": len(grants)},
        )
    return len(grants)


@dataclass
class PortalStatus:
    state: str  # not_invited / invited / registered / revoked
    invitation: Invitation | None = None
    grant: PatientAccess | None = None


def portal_status(patient: Patient) -> PortalStatus:
    if patient.portal_revoked_at:
        return PortalStatus("revoked")
    grant = (
        PatientAccess.objects.for_clinic(patient.clinic_id)
        .active()
        .filter(patient=patient, relationship="self")
        .select_related("user")
        .first()
    )
    if grant:
        return PortalStatus("registered", grant=grant)
    invitation = Invitation.objects.for_clinic(patient.clinic_id).filter(patient=patient).first()
    if invitation and invitation.state() == Invitation.State.VALID:
        return PortalStatus("invited", invitation=invitation)
    return PortalStatus("not_invited", invitation=invitation)
