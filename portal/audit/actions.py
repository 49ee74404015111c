"""What each audit action code means, in words staff read (the admin's list, its filter
and the CSV export). A code written by ``audit_record`` that is missing here shows as the
code itself; tests/portal/test_audit_log.py checks every code in the source has a label."""

from django.utils.translation import gettext_lazy as _

ACTION_LABELS = {
    # Patients signing in and out
    "signin.success": _("Signed in"),
    "signin.failed": _("Sign-in failed"),
    "signin.locked": _("Sign-in locked for a while"),
    "signin.hard_locked": _("Sign-in locked until staff unlock it"),
    "signin.unlocked": _("Sign-in unlocked"),
    "signout.signout": _("Signed out"),
    "signout.idle": _("Signed out after a period without activity"),
    "signout.expired": _("Signed out: session too old"),
    "signout.all_devices": _("Signed out everywhere"),
    # Accounts
    "password.changed": _("Password changed"),
    "password.reset_requested": _("Password reset requested"),
    "account.contact_changed": _("Sign-in contact changed"),
    "account.contact_not_moved": _("Sign-in contact left unchanged"),
    "authenticator.added": _("Authenticator added"),
    "authenticator.removed": _("Authenticator removed"),
    "recovery_codes.generated": _("Recovery codes made"),
    "recovery_code.used": _("Recovery code used to sign in"),
    "account.contact_code_failed": _("Wrong code for a new sign-in contact"),
    "terms.accepted": _("Portal terms accepted"),
    "record.downloaded": _("Copy of the record made"),
    # Charts and portal access
    "patient.viewed": _("Chart viewed"),
    "patient.changed": _("Chart changed"),
    "patient.preferences_changed": _("Preferences changed"),
    "patient.self_registered": _("Registered on the portal"),
    "patient.created": _("Chart created"),
    "patient.imported": _("Charts imported from a file"),
    "portal.revoked": _("Portal access revoked"),
    "invitation.sent": _("Portal registration sent"),
    "invitation.accepted": _("Portal registration accepted"),
    "verification.requested": _("Identity confirmation requested"),
    "verification.accepted": _("Identity confirmed"),
    "verification.declined": _("Identity confirmation declined"),
    "change_request.created": _("Change request sent"),
    "change_request.withdrawn": _("Change request withdrawn"),
    "change_request.accepted": _("Change request accepted"),
    "change_request.partly": _("Change request partly accepted"),
    "change_request.declined": _("Change request declined"),
    "change_request.linked": _("Registration linked to an existing chart"),
    # Appointments and messages
    # The clinic's record system (the FHIR API); the actor is the registered client
    "fhir.token_issued": _("Record system signed in"),
    "fhir.read": _("Record system read a record"),
    "fhir.search": _("Record system searched records"),
    "fhir.transaction": _("Record system imported records"),
    "patient.created_by_api": _("Chart created by the record system"),
    "appointment.booked": _("Appointment booked"),
    "appointment.booked_over_rule": _("Appointment booked outside the booking rules"),
    "appointment.cancelled": _("Appointment cancelled"),
    "appointment.completed": _("Appointment marked completed"),
    "appointment.no_show": _("Appointment marked no-show"),
    "appointment.earlier_offers_on": _("Asked to be offered an earlier time"),
    "appointment.earlier_offers_off": _("Stopped earlier-time offers"),
    "appointment.offer_sent": _("Earlier time offered"),
    "appointment.offer_accepted": _("Earlier time accepted"),
    "appointment_request.created": _("Appointment requested"),
    "appointment_request.withdrawn": _("Appointment request withdrawn"),
    "appointment_request.confirmed": _("Appointment request booked"),
    "appointment_request.declined": _("Appointment request declined"),
    "calendar_feed.created": _("Calendar feed address created"),
    "calendar_feed.reset": _("Calendar feed address reset"),
    "calendar_feed.stopped": _("Calendar feed address stopped"),
    "message.sent": _("Message sent"),
    "message.read": _("Message read"),
    "message.thread_started": _("Conversation started"),
    "message.thread_handled": _("Conversation marked handled"),
    "message.thread_reassigned": _("Conversation moved to another pool"),
    "message.attachment_downloaded": _("Attachment downloaded"),
    "notification.resent": _("Notification sent again"),
    # The health record (the record system sends it; patients read it)
    "record.received": _("Health record entry received from the record system"),
    "record.updated": _("Health record entry updated by the record system"),
    "record.reviewed": _("Result marked reviewed by the clinician"),
    "record.viewed": _("Health record viewed"),
    "record.document_downloaded": _("Health record document downloaded"),
    "record.preference_changed": _("Result release preference changed"),
    "record.release_rules_changed": _("Result release rules changed"),
    # Grants (what a representative may see)
    "access.scopes_changed": _("Representative's access changed"),
    "refill_request.created": _("Refill requested"),
    "refill_request.approved": _("Refill request approved"),
    "refill_request.declined": _("Refill request declined"),
    # Clinics (platform operators)
    "clinic.deactivated": _("Clinic deactivated"),
    "clinic.reactivated": _("Clinic reactivated"),
    # Staff accounts
    "staff.signin_locked": _("Staff sign-in locked"),
    "staff.signin_unlocked": _("Staff sign-in unlocked"),
    "staff.sessions_ended": _("Staff member signed out everywhere"),
    "staff.two_factor_enrolled": _("Staff authenticator set up"),
    "staff.two_factor_reset": _("Staff two-factor reset"),
    "staff.backup_codes_regenerated": _("Staff backup codes renewed"),
    "staff.invitation_sent": _("Staff invitation sent"),
    "staff.invitation_revoked": _("Staff invitation revoked"),
    "staff.invitation_accepted": _("Staff invitation accepted"),
    # The audit log itself
    "audit.exported": _("Audit log exported"),
}


def action_label(code: str) -> str:
    """The words for ``code`` in the current language (the code itself if unknown)."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code
