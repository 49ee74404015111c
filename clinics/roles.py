"""Staff roles and what each may do.

The groups themselves are created by a data migration; their permissions are synced
after every migrate from this table, so a later app adds its permissions here.
"""

from django.utils.translation import gettext_lazy as _

from clinics.models import User

FRONT_DESK = "Front desk"
CLINIC_ADMIN = "Clinic admin"

ROLE_LABELS = {FRONT_DESK: _("Front desk"), CLINIC_ADMIN: _("Clinic admin")}

_FRONT_DESK_PERMISSIONS = [
    "clinics.view_portalsettings",
    "clinics.view_identifiertype",
    "notifications.view_notification",
    "patients.view_patient",
    "patients.add_patient",
    "patients.change_patient",
    "patients.view_patientidentifier",
    "patients.add_patientidentifier",
    "patients.change_patientidentifier",
    "patients.delete_patientidentifier",
    "patients.view_patientaccess",
    "patients.change_patientaccess",
    "patients.view_patientcategory",
    "patients.view_signinlock",
    "patients.change_signinlock",
    "patients.view_verificationrequest",
    "patients.change_verificationrequest",
    "invitations.view_invitation",
    "patients.view_changerequest",
    "patients.change_changerequest",
    "patients.view_changerequestitem",
    "appointments.view_provider",
    "appointments.view_appointmenttype",
    "appointments.view_weeklyavailability",
    "appointments.view_availabilityexception",
    "appointments.view_appointment",
    "appointments.add_appointment",
    "appointments.change_appointment",
    "appointments.view_appointmentrequest",
    "appointments.change_appointmentrequest",
    "messaging.view_thread",
    "messaging.add_thread",
    "messaging.change_thread",
    "messaging.view_message",
    "messaging.add_message",
    "messaging.view_pool",
    "messaging.view_poolcategory",
    "records.view_diagnosticreport",
    "records.view_observation",
    "records.view_medication",
    "records.view_allergyintolerance",
    "records.view_immunization",
    "records.view_document",
    "records.view_releaserule",
    "records.view_refillrequest",
    "records.change_refillrequest",
]

ROLE_PERMISSIONS = {
    FRONT_DESK: _FRONT_DESK_PERMISSIONS,
    CLINIC_ADMIN: [
        *_FRONT_DESK_PERMISSIONS,
        "clinics.change_portalsettings",
        "clinics.add_identifiertype",
        "clinics.change_identifiertype",
        "clinics.delete_identifiertype",
        "audit.view_auditevent",
        "notifications.resend_notification",
        "staff.view_staffmember",
        "staff.change_staffmember",
        "staff.view_staffinvitation",
        "staff.add_staffinvitation",
        "patients.revoke_portal_access",
        # A file of thousands of charts is the clinic's onboarding, not the front desk's day.
        "patients.import_charts",
        "patients.add_patientcategory",
        "patients.change_patientcategory",
        "patients.delete_patientcategory",
        "appointments.add_provider",
        "appointments.change_provider",
        "appointments.delete_provider",
        "appointments.add_appointmenttype",
        "appointments.change_appointmenttype",
        "appointments.add_weeklyavailability",
        "appointments.change_weeklyavailability",
        "appointments.delete_weeklyavailability",
        "appointments.add_availabilityexception",
        "appointments.change_availabilityexception",
        "appointments.delete_availabilityexception",
        "messaging.add_pool",
        "messaging.change_pool",
        "messaging.delete_pool",
        "messaging.add_poolcategory",
        "messaging.change_poolcategory",
        "messaging.delete_poolcategory",
        "fhir_api.view_smartclient",
        "fhir_api.add_smartclient",
        "fhir_api.change_smartclient",
        "fhir_api.view_identifiersystem",
        "fhir_api.add_identifiersystem",
        "fhir_api.change_identifiersystem",
        "fhir_api.delete_identifiersystem",
        "records.add_releaserule",
        "records.change_releaserule",
        "records.delete_releaserule",
        # Marking a result reviewed releases it to the patient: on the clinician's word.
        "records.review_diagnosticreport",
        "records.review_observation",
    ],
}


def ensure_roles(using="default"):
    """Create the role groups if missing (tests that flush the database need this)."""
    from django.contrib.auth.models import Group

    for role in ROLE_PERMISSIONS:
        Group.objects.using(using).get_or_create(name=role)
    sync_role_permissions(using=using)


def role_group(role):
    """The group of ``role``, created with its permissions if it is missing (the
    migrations create them; a flushed or hand-edited database may have lost one)."""
    from django.contrib.auth.models import Group

    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"not a role: {role}")
    group = Group.objects.filter(name=role).first()
    if group is None:
        ensure_roles()
        group = Group.objects.get(name=role)
    return group


def sync_role_permissions(sender=None, using="default", **kwargs):
    """Give each role exactly the permissions listed above (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    for role, codes in ROLE_PERMISSIONS.items():
        group = Group.objects.using(using).filter(name=role).first()
        if group is None:
            continue
        wanted = []
        for code in codes:
            app_label, codename = code.split(".")
            perm = (
                Permission.objects.using(using)
                .filter(content_type__app_label=app_label, codename=codename)
                .first()
            )
            if perm is not None:
                wanted.append(perm)
        group.permissions.set(wanted)


def end_sessions_on_role_change(sender, instance, action, reverse, pk_set, **kwargs):
    """``m2m_changed`` of ``User.groups``: a staff member whose roles change signs in
    again, so no session keeps what the old roles allowed."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:
        if action != "pre_clear" or instance.groups.exists():
            instance.end_all_sessions()
        return
    users = User.objects.filter(groups=instance) if action == "pre_clear" else None
    if users is None:
        users = User.objects.filter(pk__in=pk_set or ())
    users.update(session_epoch=User._meta.get_field("session_epoch").get_default())
