"""The patients app's queues on the front desk's work screen (``clinics.workboard``)."""

from django.utils.translation import gettext_lazy as _

from clinics import workboard
from patients.models import ChangeRequest, SignInLock, VerificationRequest


def pending_change_requests(*, clinic, now):
    pending = ChangeRequest.objects.for_clinic(clinic).filter(status=ChangeRequest.Status.PENDING)
    return workboard.tally(pending, since="created_at")


def pending_identity_confirmations(*, clinic, now):
    pending = VerificationRequest.objects.for_clinic(clinic).filter(
        status=VerificationRequest.Status.PENDING
    )
    return workboard.tally(pending, since="created_at")


def locked_sign_ins(*, clinic, now):
    """Sign-ins locked until staff unlock them (cool-offs end by themselves)."""
    locked = SignInLock.objects.for_clinic(clinic).filter(hard_locked=True)
    return workboard.tally(locked, since="updated_at")


def register_items():
    workboard.register(
        "patients.change_requests",
        order=10,
        label=_("Patient Requests pending"),
        loader=pending_change_requests,
        url="admin:patients_changerequest_changelist?status__exact=pending",
        permission="patients.view_changerequest",
    )
    workboard.register(
        "patients.identity_confirmations",
        order=20,
        label=_("Identity confirmations pending"),
        loader=pending_identity_confirmations,
        url="admin:patients_verificationrequest_changelist?status__exact=pending",
        permission="patients.view_verificationrequest",
    )
    workboard.register(
        "patients.locked_sign_ins",
        order=60,
        label=_("Locked patient sign-ins"),
        loader=locked_sign_ins,
        url="admin:patients_signinlock_changelist?hard_locked__exact=1",
        permission="patients.view_signinlock",
    )
