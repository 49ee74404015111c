"""Account activity: audit events in words a patient understands.

Each row says what happened and who did it. Events an account did not cause are never
put down to "You": a failed sign-in or a lock is recorded against the account that was
tried, by whoever typed the wrong code, so it reads "Someone tried to sign in with a
wrong code". Repeated events (the same thing, by the same person, on the same day, one
after the other) are one row with a count: "Read messages ×8".
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
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
    "recovery_codes.generated": _("New recovery codes made"),
    "recovery_code.used": _("Signed in with a recovery code"),
    "account.contact_changed": _("Sign-in contact changed"),
    "account.contact_code_failed": _("Wrong code typed for a new sign-in contact"),
    "terms.accepted": _("Portal terms accepted"),
    "record.downloaded": _("Copy of the record made"),
    "record.viewed": _("Health record viewed"),
    "record.document_downloaded": _("Document downloaded from the health record"),
    "access.scopes_changed": _("The clinic changed what a representative may see"),
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
    "message.read": _("Read messages"),
    "message.thread_handled": _("Conversation marked handled"),
    "message.attachment_downloaded": _("Attachment downloaded"),
    "invitation.sent": _("Portal invitation sent"),
    "invitation.accepted": _("Portal invitation accepted"),
    "portal.revoked": _("Portal access revoked by the clinic"),
}

# Attempts recorded against the account that was tried, whoever typed: never "You".
_TRIED_BY_SOMEONE = {
    "passcode": _("Someone tried to sign in with a wrong code"),
    "password": _("Someone tried to sign in with a wrong password"),
    "authenticator": _("Someone typed a wrong authenticator code while signing in"),
    "recovery_code": _("Someone typed a wrong recovery code while signing in"),
}
_LOCKS = {"signin.locked", "signin.hard_locked"}
SOMEONE = _("Someone (not signed in)")


def describe(event, *, viewer):
    """(what happened, who did it) for one event."""
    if event.action == "signin.failed":
        method = (event.details or {}).get("method")
        return _TRIED_BY_SOMEONE.get(method, LABELS["signin.failed"]), SOMEONE
    what = LABELS.get(event.action, event.action)
    if event.action in _LOCKS:
        return what, SOMEONE
    if event.actor_id == viewer.pk:
        who = _("You")
    elif event.actor_id and event.actor and event.actor.is_staff:
        who = _("%(name)s at the clinic") % {"name": event.actor_label}
    elif event.actor_id:
        who = event.actor_label
    else:
        who = SOMEONE
    return what, who


@dataclass
class Row:
    action: str
    what: str
    who: str
    at: datetime  # the latest of the group
    first_at: datetime
    count: int
    is_today: bool

    @property
    def spans_time(self) -> bool:
        """The group's first and last events are a minute or more apart."""
        return (self.at - self.first_at).total_seconds() >= 60


def activity_rows(events, *, viewer) -> list[Row]:
    """Events (newest first) as rows: a run of the same thing by the same person on the
    same day (in the clinic's time) is one row with its count."""
    today = timezone.localdate()
    rows: list[Row] = []
    last_key = None
    for event in events:
        what, who = describe(event, viewer=viewer)
        day = timezone.localdate(event.created_at)
        key = (str(what), str(who), event.acting_for_id, day)
        if rows and key == last_key:
            rows[-1].count += 1
            rows[-1].first_at = event.created_at
            continue
        rows.append(
            Row(event.action, what, who, event.created_at, event.created_at, 1, day == today)
        )
        last_key = key
    return rows
