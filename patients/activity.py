"""Account activity: audit events in words a patient understands."""

from django.utils.translation import gettext_lazy as _

LABELS = {
    "signin.success": _("Signed in"),
    "signin.failed": _("Failed sign-in attempt"),
    "signin.locked": _("Sign-in paused after repeated failures"),
    "signin.hard_locked": _("Sign-in locked until the clinic unlocks it"),
    "signin.unlocked": _("Sign-in unlocked by the clinic"),
    "signout.signout": _("Signed out"),
    "signout.idle": _("Signed out after inactivity"),
    "signout.expired": _("Signed out: session limit reached"),
    "signout.all_devices": _("Signed out on every device"),
    "password.changed": _("Password changed"),
    "password.reset_requested": _("Password reset requested"),
    "authenticator.added": _("Authenticator app added"),
    "authenticator.removed": _("Authenticator app removed"),
    "patient.self_registered": _("Registered for the portal"),
    "patient.viewed": _("Chart viewed"),
    "patient.changed": _("Chart changed"),
    "verification.requested": _("Identity confirmation requested"),
    "verification.accepted": _("Identity confirmed by the clinic"),
    "verification.declined": _("Identity confirmation declined by the clinic"),
    "patient.preferences_changed": _("Notice preferences changed"),
    "change_request.created": _("Change of details requested"),
    "change_request.withdrawn": _("Change request withdrawn"),
    "change_request.accepted": _("Change request accepted by the clinic"),
    "change_request.partly": _("Change request partly accepted by the clinic"),
    "change_request.declined": _("Change request declined by the clinic"),
    "appointment.booked": _("Appointment booked"),
    "appointment.booked_over_rule": _("Appointment booked by the clinic outside its usual rules"),
    "appointment.cancelled": _("Appointment cancelled"),
    "appointment.completed": _("Appointment marked completed"),
    "appointment.no_show": _("Appointment marked as missed"),
    "message.sent": _("Message sent"),
    "message.thread_started": _("Conversation started"),
    "message.read": _("Messages read"),
    "message.thread_handled": _("Conversation marked handled"),
    "message.attachment_downloaded": _("Attachment downloaded"),
    "invitation.sent": _("Portal invitation sent"),
    "invitation.accepted": _("Portal invitation accepted"),
    "portal.revoked": _("Portal access revoked by the clinic"),
}


def describe(event, *, viewer):
    """(what happened, who did it) for one event."""
    what = LABELS.get(event.action, event.action)
    if event.actor_id == viewer.pk:
        who = _("You")
    elif event.actor_id and event.actor and event.actor.is_staff:
        who = _("%(name)s at the clinic") % {"name": event.actor_label}
    elif event.actor_id:
        who = event.actor_label
    else:
        who = _("Someone (not signed in)")
    return what, who
