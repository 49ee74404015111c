"""Staff accounts in the clinic admin (for clinic admins) and actions on accounts in the
operators' admin: sign-in lock, second factor, sessions. Each action calls a service in
``portal.staff.services``, which checks who may act on whom."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clinics.admin import ClinicAdmin, OperatorUserAdmin
from clinics.admin_site import clinic_admin_site, platform_admin_site
from clinics.models import Clinic, User
from clinics.roles import ROLE_LABELS
from clinics.scoped_admin import ClinicScopedAdmin, ReadOnlyAdminMixin
from portal.staff import onboarding, services, two_factor
from portal.staff.forms import ClinicStaffInvitationForm, OperatorStaffInvitationForm
from portal.staff.models import StaffInvitation, StaffMember
from portal.staff.selectors import signin_locked as is_signin_locked
from portal.staff.selectors import with_security_state


class StaffSecurityActions:
    """The actions both admins offer; ``services`` decides, row by row, who may act."""

    actions = ["unlock_sign_in", "end_sessions", "reset_two_factor"]

    def _apply(self, request, queryset, service, done_message):
        done = refused = 0
        for member in queryset:
            try:
                service(actor=request.user, member=member, request=request)
                done += 1
            except PermissionDenied:
                refused += 1
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                ngettext(
                    "%(count)d account was left as it was: you may not manage it.",
                    "%(count)d accounts were left as they were: you may not manage them.",
                    refused,
                )
                % {"count": refused},
                messages.WARNING,
            )

    @admin.action(description=_("Unlock sign-in"), permissions=["manage"])
    def unlock_sign_in(self, request, queryset):
        self._apply(
            request,
            queryset,
            services.staff_signin_unlock,
            lambda n: (
                ngettext(
                    "Sign-in unlocked for %(count)d account.",
                    "Sign-in unlocked for %(count)d accounts.",
                    n,
                )
                % {"count": n}
            ),
        )

    @admin.action(description=_("Sign out everywhere"), permissions=["manage"])
    def end_sessions(self, request, queryset):
        self._apply(
            request,
            queryset,
            services.staff_end_sessions,
            lambda n: (
                ngettext(
                    "%(count)d account was signed out everywhere.",
                    "%(count)d accounts were signed out everywhere.",
                    n,
                )
                % {"count": n}
            ),
        )

    @admin.action(
        description=_("Reset two-factor (new authenticator at next sign-in)"),
        permissions=["manage"],
    )
    def reset_two_factor(self, request, queryset):
        self._apply(
            request,
            queryset,
            two_factor.staff_two_factor_reset,
            lambda n: (
                ngettext(
                    "Two-factor reset for %(count)d account; it sets up a new authenticator at "
                    "its next sign-in.",
                    "Two-factor reset for %(count)d accounts; each sets up a new authenticator at "
                    "its next sign-in.",
                    n,
                )
                % {"count": n}
            ),
        )

    @admin.display(boolean=True, description=_("sign-in locked"))
    def signin_locked(self, obj):
        return is_signin_locked(obj)

    @admin.display(boolean=True, description=_("authenticator"))
    def authenticator(self, obj):
        return obj.has_authenticator


@admin.register(StaffMember, site=clinic_admin_site)
class StaffMemberAdmin(StaffSecurityActions, ReadOnlyAdminMixin, ClinicScopedAdmin):
    list_display = [
        "username",
        "full_name",
        "roles",
        "is_active",
        "signin_locked",
        "authenticator",
        "last_login",
    ]
    search_fields = ["username", "first_name", "last_name", "email"]
    fields = ["username", "first_name", "last_name", "email", "is_active", "last_login"]
    readonly_fields = fields
    ordering = ["username"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).filter(is_staff=True)
        return with_security_state(queryset).prefetch_related("groups")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("staff.view_staffmember")

    def has_manage_permission(self, request):
        return request.user.has_perm("staff.change_staffmember")

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("staff.add_staffinvitation")

    def add_view(self, request, form_url="", extra_context=None):
        """New staff are invited: they choose their own password."""
        return redirect(reverse(f"{self.admin_site.name}:staff_staffinvitation_add"))

    @admin.display(description=_("name"))
    def full_name(self, obj):
        return obj.get_full_name()

    @admin.display(description=_("roles"))
    def roles(self, obj):
        return ", ".join(str(ROLE_LABELS.get(g.name, g.name)) for g in obj.groups.all())


platform_admin_site.unregister(User)


@admin.register(User, site=platform_admin_site)
class PlatformUserAdmin(StaffSecurityActions, OperatorUserAdmin):
    list_display = [*OperatorUserAdmin.list_display, "signin_locked", "authenticator"]

    def get_queryset(self, request):
        return with_security_state(super().get_queryset(request))

    def add_view(self, request, form_url="", extra_context=None):
        """A clinic's admins are invited: they choose their own password."""
        return redirect(reverse(f"{self.admin_site.name}:staff_staffinvitation_add"))

    def has_manage_permission(self, request):
        return request.user.is_platform_operator


class StaffInvitationActions:
    """Resend and revoke, in both admins; ``onboarding`` decides who may."""

    actions = ["resend_invitations", "revoke_invitations"]
    list_display = ["username", "email", "role", "state", "created_at", "expires_at", "sent_by"]
    search_fields = ["username", "email", "first_name", "last_name"]
    list_select_related = ["sent_by"]
    readonly_fields = [
        "email",
        "username",
        "first_name",
        "last_name",
        "role",
        "created_at",
        "expires_at",
        "sent_by",
        "accepted_at",
        "accepted_by",
    ]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    @admin.display(description=_("state"))
    def state(self, obj):
        return obj.get_state_display()

    def _each(self, request, queryset, service, done_message):
        done = refused = 0
        for invitation in queryset.select_related("clinic"):
            try:
                if service(actor=request.user, invitation=invitation, request=request) is False:
                    refused += 1
                else:
                    done += 1
            except (PermissionDenied, onboarding.InvitationUnusable, onboarding.AccountExists):
                refused += 1
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                ngettext(
                    "%(count)d invitation was left as it was (used, cancelled, or not yours "
                    "to manage).",
                    "%(count)d invitations were left as they were (used, cancelled, or not "
                    "yours to manage).",
                    refused,
                )
                % {"count": refused},
                messages.WARNING,
            )

    @admin.action(description=_("Send again (with a new link)"), permissions=["invite"])
    def resend_invitations(self, request, queryset):
        self._each(
            request,
            queryset,
            onboarding.staff_invitation_resend,
            lambda n: (
                ngettext("%(count)d invitation sent again.", "%(count)d invitations sent again.", n)
                % {"count": n}
            ),
        )

    @admin.action(description=_("Revoke (the link stops working)"), permissions=["invite"])
    def revoke_invitations(self, request, queryset):
        self._each(
            request,
            queryset,
            onboarding.staff_invitation_revoke,
            lambda n: (
                ngettext("%(count)d invitation revoked.", "%(count)d invitations revoked.", n)
                % {"count": n}
            ),
        )

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied
        try:
            sent = onboarding.staff_invitation_send(
                actor=request.user,
                clinic=obj.clinic,
                email=obj.email,
                username=obj.username,
                role=obj.role,
                first_name=obj.first_name,
                last_name=obj.last_name,
                request=request,
            )
        except onboarding.AccountExists as exc:
            # Made between the form's check and now: nothing was sent.
            raise PermissionDenied from exc
        obj.__dict__.update(sent.__dict__)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            _("Invitation sent to %(email)s. The link works for %(hours)d hours.")
            % {"email": obj.email, "hours": onboarding.STAFF_INVITATION_VALID_HOURS},
            messages.SUCCESS,
        )
        page = "add" if "_addanother" in request.POST else "changelist"
        return redirect(reverse(f"{self.admin_site.name}:staff_staffinvitation_{page}"))


@admin.register(StaffInvitation, site=clinic_admin_site)
class StaffInvitationAdmin(StaffInvitationActions, ClinicScopedAdmin):
    """How a clinic admin adds a colleague: an emailed link, never a password typed for
    them."""

    form = ClinicStaffInvitationForm
    list_filter = ["role"]

    def has_view_permission(self, request, obj=None):
        return self.has_invite_permission(request)

    def has_add_permission(self, request):
        return self.has_invite_permission(request)

    def has_invite_permission(self, request):
        return request.user.has_perm("staff.add_staffinvitation")


@admin.register(StaffInvitation, site=platform_admin_site)
class PlatformStaffInvitationAdmin(StaffInvitationActions, admin.ModelAdmin):
    """Operators invite each clinic's clinic admins (the first one, and later ones)."""

    form = OperatorStaffInvitationForm
    list_display = ["clinic", *StaffInvitationActions.list_display]
    list_filter = ["clinic"]
    list_select_related = ["clinic", "sent_by"]

    def get_readonly_fields(self, request, obj=None):
        return ["clinic", *self.readonly_fields] if obj is not None else []

    def get_changeform_initial_data(self, request):
        return {"clinic": request.GET.get("clinic")}

    def has_view_permission(self, request, obj=None):
        return request.user.is_platform_operator

    def has_add_permission(self, request):
        return request.user.is_platform_operator

    def has_invite_permission(self, request):
        return request.user.is_platform_operator

    def save_model(self, request, obj, form, change):
        obj.role = StaffInvitation.Role.CLINIC_ADMIN
        super().save_model(request, obj, form, change)


platform_admin_site.unregister(Clinic)


@admin.register(Clinic, site=platform_admin_site)
class ClinicWithInvitationAdmin(ClinicAdmin):
    """The clinics list of the operators' admin, whose next step after adding a clinic
    is inviting its first clinic admin. Clinics are deactivated and reactivated by the
    audited actions, never deleted nor switched in the form."""

    actions = ["deactivate", "reactivate"]
    readonly_fields = ["is_active"]

    def _set_active(self, request, queryset, *, active):
        changed = sum(
            services.clinic_set_active(
                actor=request.user, clinic=clinic, active=active, request=request
            )
            for clinic in queryset
        )
        if active:
            done = ngettext(
                "%(count)d clinic reactivated.", "%(count)d clinics reactivated.", changed
            )
        else:
            done = ngettext(
                "%(count)d clinic deactivated.", "%(count)d clinics deactivated.", changed
            )
        self.message_user(request, done % {"count": changed}, messages.SUCCESS)

    @admin.action(description=_("Deactivate (portal and admin stop answering)"))
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, active=False)

    @admin.action(description=_("Reactivate"))
    def reactivate(self, request, queryset):
        self._set_active(request, queryset, active=True)

    def response_add(self, request, obj, post_url_continue=None):
        invite = reverse(f"{self.admin_site.name}:staff_staffinvitation_add")
        self.message_user(
            request,
            format_html(
                '{} <a href="{}?clinic={}">{}</a>',
                _("Next, invite the clinic's first clinic admin:"),
                invite,
                obj.pk,
                _("Invite a clinic admin"),
            ),
            messages.INFO,
        )
        return super().response_add(request, obj, post_url_continue)
