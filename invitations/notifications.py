"""Invitation messages. The link's token is made here, at send time."""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from invitations.models import Invitation
from patients.models import Patient
from portal.notifications.registry import Obsolete, register


def _invitation(notification):
    invitation = (
        Invitation.objects.for_clinic(notification.clinic)
        .filter(pk=notification.context["invitation_id"])
        .first()
    )
    if invitation is None or invitation.state() != Invitation.State.VALID:
        raise Obsolete("the invitation is no longer valid")
    return invitation


@register("invitation", label=_("Portal registration"))
def invitation_context(notification):
    invitation = _invitation(notification)
    path = reverse(
        "portal:invitation-link",
        kwargs={"token": invitation.issue_token()},
        urlconf=settings.ROOT_URLCONF,
    )
    return {
        "link": notification.clinic.build_url(path),
        "hours": notification.clinic.portal_settings.invitation_validity_hours,
        "for_representative": invitation.for_representative,
    }


@register("invitation_notice", label=_("Portal registration notice"))
def invitation_notice_context(notification):
    _invitation(notification)
    return {}


@register("portal_deactivated", label=_("Portal access revoked"))
def portal_deactivated_context(notification):
    patient = Patient.objects.for_clinic(notification.clinic).filter(
        pk=notification.context["patient_id"]
    )
    if not patient.exists():
        raise Obsolete("the chart is gone")
    return {}
