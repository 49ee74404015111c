from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from phonenumber_field.phonenumber import to_python
from phonenumbers import region_code_for_number

from clinics.admin_site import clinic_admin_site, platform_admin_site
from clinics.models import Clinic, ClinicDomain, IdentifierType, PortalSettings, User
from clinics.roles import CLINIC_ADMIN, FRONT_DESK
from clinics.scoped_admin import ChangeHistoryMixin, ClinicScopedAdmin
from clinics.services import clinic_ensure_defaults
from clinics.terms import terms_current, terms_publish
from portal.core.history import changes_of
from portal.core.phones import PhoneDisplayAdminMixin, clinic_phone_fields

# --- The clinic's own admin -------------------------------------------------------------


class PortalSettingsForm(forms.ModelForm):
    """The settings, and the clinic's portal terms: changing their text publishes a new
    version (``clinics.terms.terms_publish``), which patients accept before continuing."""

    terms_en = forms.CharField(
        label=_("portal terms (English)"),
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=_(
            "Changing the terms publishes a new version: signed-in patients are asked to "
            "accept it before they continue."
        ),
    )
    terms_fr = forms.CharField(
        label=_("portal terms (French)"),
        widget=forms.Textarea(attrs={"rows": 12}),
        required=False,
    )

    class Meta:
        model = PortalSettings
        fields = [
            f.name
            for f in PortalSettings._meta.fields
            if f.editable and not f.primary_key and f.name != "clinic"
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = terms_current(clinic=self.instance.clinic) if self.instance.pk else None
        if current is not None:
            self.initial.setdefault("terms_en", current.text_en)
            self.initial.setdefault("terms_fr", current.text_fr)


@admin.register(PortalSettings, site=clinic_admin_site)
class PortalSettingsAdmin(ChangeHistoryMixin, ClinicScopedAdmin):
    """One row per clinic: the changelist goes straight to it."""

    form = PortalSettingsForm
    readonly_fields = ["terms_version"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if {"terms_en", "terms_fr"} & set(form.changed_data):
            terms_publish(
                clinic=obj.clinic,
                text_en=form.cleaned_data["terms_en"],
                text_fr=form.cleaned_data["terms_fr"],
                published_by=request.user,
            )
            obj.refresh_from_db(fields=["terms_version"])

    def history_changes(self, request, obj):
        return changes_of(
            PortalSettings.history.filter(clinic=request.clinic, id=obj.pk),
            subject=str(_("Portal settings")),
        )

    fieldsets = [
        (None, {"fields": ["portal_enabled", "self_registration_allowed", "mfa_required"]}),
        (
            _("Notifications"),
            {
                "fields": [
                    "email_enabled",
                    "sms_enabled",
                    "sms_notices_per_patient_per_day",
                    "otp_validity_minutes",
                ]
            },
        ),
        (
            _("Invitations and representatives"),
            {
                "fields": [
                    "invitation_validity_hours",
                    "representative_age_threshold",
                    "parent_health_record_age",
                ]
            },
        ),
        (
            _("Messages"),
            {
                "fields": [
                    "message_replies_allowed",
                    "patient_messages_allowed",
                    "pending_patients_may_message",
                    "attachment_max_mb",
                    "message_reply_working_days",
                ]
            },
        ),
        (
            _("Appointments"),
            {
                "fields": [
                    "booking_allowed",
                    "appointment_requests",
                    "cancelling_allowed",
                    "cancel_cutoff_hours",
                    "booking_window_days",
                    "max_upcoming_appointments",
                    "pending_patients_may_book",
                ]
            },
        ),
        (
            _("Earlier-time offers"),
            {
                "fields": [
                    "earlier_offers_enabled",
                    "earlier_offers_batch_size",
                    "earlier_offers_validity_hours",
                ]
            },
        ),
        (_("Sessions"), {"fields": ["idle_timeout_minutes", "staff_idle_timeout_minutes"]}),
        (_("Terms"), {"fields": ["terms_version", "terms_en", "terms_fr"]}),
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        settings_row = clinic_ensure_defaults(clinic=request.clinic)
        opts = self.model._meta
        return redirect(
            reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                args=[settings_row.pk],
            )
        )


@admin.register(IdentifierType, site=clinic_admin_site)
class IdentifierTypeAdmin(ClinicScopedAdmin):
    list_display = ["label", "code", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    search_fields = ["label", "code"]

    def get_changelist_form(self, request, **kwargs):
        """Each field edited in the list is named for screen readers ("Active: Passport"):
        the list shows its column header only once."""
        base = super().get_changelist_form(request, **kwargs)

        class LabelledRowForm(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                for field in self.fields.values():
                    label = f"{capfirst(field.label)}: {self.instance.label}"
                    field.widget.attrs["aria-label"] = label

        return LabelledRowForm


# --- The operators' admin (base domain) ------------------------------------------------


class ClinicDomainInline(admin.TabularInline):
    model = ClinicDomain
    extra = 0


class ClinicAdminForm(forms.ModelForm):
    """The clinic's phone is typed the way its country writes numbers and stored in
    E.164; anything that is not a phone number of that country is refused."""

    phone = forms.CharField(label=_("clinic phone"), required=False, max_length=40)

    class Meta:
        model = Clinic
        fields = [
            "slug",
            "name",
            "display_name",
            "time_zone",
            "country",
            "phone",
            "address",
            "notification_email",
            "logo",
            "accent_colour",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        number = to_python(self.instance.phone)
        if number and number.is_valid():
            same_country = region_code_for_number(number) == self.instance.country.upper()
            self.initial["phone"] = number.as_national if same_country else number.as_international

    def clean(self):
        cleaned = super().clean()
        raw = (cleaned.get("phone") or "").strip()
        if raw:
            region = (cleaned.get("country") or self.instance.country or "CA").upper()
            number = to_python(raw, region=region)
            if number and number.is_valid():
                cleaned["phone"] = number
            else:
                self.add_error(
                    "phone", _("Enter a phone number of the clinic's country, e.g. 613 555 0100.")
                )
        return cleaned


@admin.register(Clinic, site=platform_admin_site)
class ClinicAdmin(admin.ModelAdmin):
    """Clinics are deactivated, never deleted (their charts, messages and audit log stay)."""

    form = ClinicAdminForm
    list_display = ["name", "slug", "time_zone", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug", "domains__domain"]
    inlines = [ClinicDomainInline]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        clinic_ensure_defaults(clinic=obj)
        shown = obj.portal_accent_colour
        if shown != obj.accent_colour.lower():
            messages.warning(
                request,
                _(
                    "The accent colour %(chosen)s is too light for white text on it, so the "
                    "portal shows it darker, as %(shown)s."
                )
                % {"chosen": obj.accent_colour, "shown": shown},
            )


class RoleChoiceField(forms.ModelMultipleChoiceField):
    def __init__(self, **kwargs):
        super().__init__(
            queryset=Group.objects.filter(name__in=[FRONT_DESK, CLINIC_ADMIN]),
            widget=forms.CheckboxSelectMultiple,
            required=False,
            label=_("Roles"),
            **kwargs,
        )


class OperatorUserCreationForm(AdminUserCreationForm):
    groups = RoleChoiceField()

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("clinic", "username", "email", "first_name", "last_name", "groups")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Every account added here is staff (``OperatorUserAdmin.save_model``): the
        # model's checks (a clinic for every staff member) see it as such.
        self.instance.is_staff = True

    def clean_username(self):
        # Usernames are unique per clinic, not across the platform.
        return self.cleaned_data["username"]

    def clean(self):
        cleaned = super().clean()
        username = cleaned.get("username")
        if (
            username
            and User.objects.filter(
                clinic=cleaned.get("clinic"), username__iexact=username
            ).exists()
        ):
            self.add_error("username", _("This clinic already has a user with that username."))
        return cleaned


class OperatorUserChangeForm(UserChangeForm):
    groups = RoleChoiceField()

    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The account's mobile is read and shown with its own clinic's country.
        clinic = self.instance.clinic if self.instance.clinic_id else None
        clinic_phone_fields(self, clinic.country if clinic else None)


@admin.register(User, site=platform_admin_site)
class OperatorUserAdmin(PhoneDisplayAdminMixin, UserAdmin):
    """Operators create each clinic's first clinic admin here."""

    form = OperatorUserChangeForm
    add_form = OperatorUserCreationForm
    list_display = ["username", "clinic", "email", "is_staff", "is_active", "last_login"]
    list_filter = ["clinic", "is_staff", "is_active", "groups"]
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering = ["clinic__name", "username"]
    fieldsets = [
        (None, {"fields": ["clinic", "username", "password"]}),
        (_("Person"), {"fields": ["first_name", "last_name", "email", "phone"]}),
        (_("Access"), {"fields": ["is_active", "is_staff", "groups", "must_change_password"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "fields": [
                    "clinic",
                    "username",
                    "email",
                    "first_name",
                    "last_name",
                    "groups",
                    "password1",
                    "password2",
                ]
            },
        ),
    ]
    readonly_fields = ["last_login", "date_joined"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.is_staff = True
        super().save_model(request, obj, form, change)
