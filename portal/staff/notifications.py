"""The staff invitation email. The link's token is made here, at send time."""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from portal.notifications.registry import Obsolete, register
from portal.staff.models import StaffInvitation
from portal.staff.onboarding import STAFF_INVITATION_VALID_HOURS


@register("staff_invitation", label=_("Staff invitation"))
def staff_invitation_context(notification):
    invitation = (
        StaffInvitation.objects.for_clinic(notification.clinic)
        .filter(pk=notification.context["invitation_id"])
        .first()
    )
    if invitation is None or invitation.state() != StaffInvitation.State.VALID:
        raise Obsolete("the staff invitation is no longer valid")
    # The clinic URLconf (ROOT_URLCONF): the link is on the clinic's host, whoever sent it.
    path = reverse(
        "staff:invitation-link",
        kwargs={"token": invitation.issue_token()},
        urlconf=settings.ROOT_URLCONF,
    )
    return {
        "link": notification.clinic.build_url(path),
        "hours": STAFF_INVITATION_VALID_HOURS,
        "username": invitation.username,
        "role": invitation.get_role_display(),
    }
