"""Portal access from the patient's page in the clinic admin: Send Portal Registration,
Resend, Revoke Patient Portal Access, give access to someone else, and Quick Add."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clinics.admin_site import clinic_admin_site
from clinics.scoped_admin import ClinicScopedAdmin, ReadOnlyAdminMixin
from invitations import services
from invitations.models import Invitation
from patients.admin import PatientAdmin, PatientAdminForm
from patients.models import Patient, PatientAccess
from patients.services import chart_create
from portal.audit.services import audit_record
from portal.core.fields import EMAIL_ERROR
from portal.core.forms import DateInput, normalise_mobile
from portal.core.identifiers import InvalidIdentifier, canonical_email
from portal.core.phones import phone_error

CHANNEL_CHOICES = [("email", _("Email")), ("sms", _("Text message"))]


REPRESENTED_TEXT = _(
    "Someone else acts, acted or was invited to act for this patient, so the chart's "
    "email or mobile may be theirs: no link for the patient's own account is sent. Ask "
    "the patient to sign in with their ID; you then confirm who they are in Patient "
    "Requests."
)


def _now_text():
    return formats.localize(timezone.localtime(), use_l10n=True)


class PortalStatusFilter(admin.SimpleListFilter):
    title = _("portal status")
    parameter_name = "portal"

    def lookups(self, request, model_admin):
        return [
            ("not_invited", _("Not invited")),
            ("invited", _("Invited")),
            ("registered", _("Registered")),
            ("revoked", _("Revoked")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        registered = Exists(
            PatientAccess.objects.filter(
                patient=OuterRef("pk"), relationship="self", revoked_at__isnull=True
            ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        )
        invited = Exists(
            Invitation.objects.filter(
                patient=OuterRef("pk"),
                accepted_at__isnull=True,
                superseded_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=now,
                dob_failures__lt=Invitation.MAX_DOB_FAILURES,
            )
        )
        live = queryset.filter(portal_revoked_at__isnull=True)
        match self.value():
            case "revoked":
                return queryset.filter(portal_revoked_at__isnull=False)
            case "registered":
                return live.filter(registered)
            case "invited":
                return live.filter(invited).exclude(registered)
            case "not_invited":
                return live.exclude(registered).exclude(invited)
        return queryset


class SendForm(forms.Form):
    channel = forms.ChoiceField(choices=CHANNEL_CHOICES, widget=forms.RadioSelect)


class RepresentativeForm(forms.Form):
    name = forms.CharField(label=_("Representative's name"), max_length=200)
    relationship = forms.ChoiceField(
        label=_("Relationship"),
        choices=[c for c in PatientAccess.Relationship.choices if c[0] != "self"],
    )
    channel = forms.ChoiceField(
        label=_("Send by"), choices=CHANNEL_CHOICES, widget=forms.RadioSelect
    )
    contact = forms.CharField(label=_("Email or mobile"), max_length=254)
    can_appointments = forms.BooleanField(label=_("Appointments"), required=False, initial=True)
    can_messages = forms.BooleanField(label=_("Messages"), required=False, initial=True)
    can_demographics = forms.BooleanField(label=_("Demographics"), required=False, initial=True)
    can_health_record = forms.BooleanField(
        label=_("Health record"),
        required=False,
        initial=False,
        help_text=_(
            "Results, medications, allergies, immunizations and documents. A parent or "
            "guardian of a young child sees them without this."
        ),
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean(self):
        cleaned = super().clean()
        channel, contact = cleaned.get("channel"), (cleaned.get("contact") or "").strip()
        if channel == "email":
            try:
                cleaned["destination"] = canonical_email(contact)
            except InvalidIdentifier:
                self.add_error("contact", EMAIL_ERROR)
        elif channel == "sms":
            cleaned["destination"] = normalise_mobile(contact, self.clinic.country)
            if not cleaned["destination"]:
                self.add_error("contact", phone_error(self.clinic.country, mobile=True))
        return cleaned


class QuickAddForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=DateInput)
    activate_portal = forms.BooleanField(label=_("Activate portal"), required=False)
    channel = forms.ChoiceField(
        label=_("Send"),
        choices=[("email", _("By Email")), ("sms", _("By Text Message"))],
        widget=forms.RadioSelect,
        required=False,
    )
    contact = forms.CharField(label=_("Email or mobile"), max_length=254, required=False)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def clean(self):
        cleaned = super().clean()
        channel, contact = cleaned.get("channel"), (cleaned.get("contact") or "").strip()
        cleaned["email"], cleaned["mobile"] = "", ""
        if contact and not channel:
            channel = "email" if "@" in contact else "sms"
            cleaned["channel"] = channel
        if cleaned.get("activate_portal") and not contact:
            self.add_error("contact", _("Enter the email or mobile the link goes to."))
        if contact and channel == "email":
            try:
                cleaned["email"] = canonical_email(contact)
            except InvalidIdentifier:
                self.add_error("contact", EMAIL_ERROR)
        elif contact and channel == "sms":
            cleaned["mobile"] = normalise_mobile(contact, self.clinic.country) or ""
            if not cleaned["mobile"]:
                self.add_error("contact", phone_error(self.clinic.country, mobile=True))
        return cleaned


class PortalAccessAdminMixin:
    """Mixed into the Patient admin."""

    change_form_template = "admin/patients/patient/change_form.html"
    change_list_template = "admin/patients/patient/change_list.html"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("quick-add/", wrap(self.quick_add_view), name="patients_patient_quick_add"),
            path(
                "<int:object_id>/portal/send/",
                wrap(self.portal_send_view),
                name="patients_patient_portal_send",
            ),
            path(
                "<int:object_id>/portal/resend/",
                wrap(self.portal_resend_view),
                name="patients_patient_portal_resend",
            ),
            path(
                "<int:object_id>/portal/revoke/",
                wrap(self.portal_revoke_view),
                name="patients_patient_portal_revoke",
            ),
            path(
                "<int:object_id>/portal/representative/",
                wrap(self.representative_view),
                name="patients_patient_portal_representative",
            ),
            *super().get_urls(),
        ]

    def _patient_or_404(self, request, object_id, *, change=True):
        patient = self.get_object(request, str(object_id))
        if patient is None:
            raise Http404
        if change and not self.has_change_permission(request, patient):
            raise PermissionDenied
        return patient

    def _back(self, patient):
        return redirect(
            reverse(f"{self.admin_site.name}:patients_patient_change", args=[patient.pk])
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        patient = self.get_object(request, object_id) if object_id else None
        if patient is not None:
            extra_context["portal"] = services.portal_status(patient)
            extra_context["can_revoke"] = request.user.has_perm("patients.revoke_portal_access")
            extra_context["send_form"] = SendForm()
        return super().change_view(request, object_id, form_url, extra_context)

    def _send(self, request, patient, channel):
        try:
            services.invitation_send(
                patient=patient, channel=channel, sent_by=request.user, request=request
            )
        except services.MissingContact:
            missing = (
                gettext("%(patient)s has no email address on file.")
                if channel == "email"
                else gettext("%(patient)s has no mobile number on file.")
            )
            advice = gettext(
                "Add it under Contact below and save, then send the registration again."
            )
            messages.error(request, f"{missing % {'patient': patient}} {advice}")
            return False
        except services.RevokedByClinic:
            messages.error(
                request,
                gettext(
                    "A clinic admin revoked this patient's portal access; only a clinic "
                    "admin can send a new registration."
                ),
            )
            return False
        except services.ChannelDisabled:
            messages.error(request, gettext("The clinic does not send by this channel."))
            return False
        except services.Represented:
            messages.error(request, REPRESENTED_TEXT)
            return False
        messages.success(
            request,
            gettext("Portal registration sent to %(patient)s at %(time)s.")
            % {"patient": patient, "time": _now_text()},
        )
        return True

    def portal_send_view(self, request, object_id):
        patient = self._patient_or_404(request, object_id)
        form = SendForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            messages.error(request, gettext("Choose Email or Text message."))
            return self._back(patient)
        self._send(request, patient, form.cleaned_data["channel"])
        return self._back(patient)

    def portal_resend_view(self, request, object_id):
        patient = self._patient_or_404(request, object_id)
        if request.method != "POST":
            return self._back(patient)
        latest = Invitation.objects.for_clinic(request.clinic).filter(patient=patient).first()
        if latest is None:
            messages.error(request, gettext("There is no invitation to resend."))
            return self._back(patient)
        try:
            services.invitation_resend(invitation=latest, sent_by=request.user, request=request)
        except services.Represented:
            messages.error(request, REPRESENTED_TEXT)
            return self._back(patient)
        except (services.MissingContact, services.ChannelDisabled, services.RevokedByClinic):
            messages.error(request, gettext("The invitation's contact is no longer usable."))
            return self._back(patient)
        messages.success(
            request,
            gettext("Invitation sent again at %(time)s; earlier links no longer work.")
            % {"time": _now_text()},
        )
        return self._back(patient)

    def portal_revoke_view(self, request, object_id):
        if not request.user.has_perm("patients.revoke_portal_access"):
            raise PermissionDenied
        patient = self._patient_or_404(request, object_id)
        if request.method == "POST":
            services.portal_access_revoke(patient=patient, revoked_by=request.user, request=request)
            messages.success(
                request,
                gettext("Patient portal access revoked for %(patient)s at %(time)s.")
                % {"patient": patient, "time": _now_text()},
            )
            return self._back(patient)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "patient": patient,
            "title": gettext("Revoke Patient Portal Access"),
        }
        return TemplateResponse(request, "admin/patients/patient/revoke_portal.html", context)

    def representative_view(self, request, object_id):
        patient = self._patient_or_404(request, object_id)
        form = RepresentativeForm(request.POST or None, clinic=request.clinic)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            representative = services.Representative(
                name=data["name"],
                relationship=data["relationship"],
                destination=data["destination"],
                can_appointments=data["can_appointments"],
                can_messages=data["can_messages"],
                can_demographics=data["can_demographics"],
                can_health_record=data["can_health_record"],
            )
            try:
                services.invitation_send(
                    patient=patient,
                    channel=data["channel"],
                    sent_by=request.user,
                    request=request,
                    representative=representative,
                )
            except services.ChannelDisabled:
                form.add_error("channel", gettext("The clinic does not send by this channel."))
            except services.RevokedByClinic:
                form.add_error(
                    None,
                    gettext(
                        "A clinic admin revoked this patient's portal access; only a clinic "
                        "admin can grant it again."
                    ),
                )
            else:
                messages.success(
                    request,
                    gettext("Portal invitation sent to %(name)s at %(time)s.")
                    % {"name": data["name"], "time": _now_text()},
                )
                return self._back(patient)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "patient": patient,
            "form": form,
            "title": gettext("Give portal access to someone other than the patient"),
        }
        return TemplateResponse(request, "admin/patients/patient/representative.html", context)

    def quick_add_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = QuickAddForm(request.POST or None, clinic=request.clinic)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            with transaction.atomic():
                patient = chart_create(
                    clinic=request.clinic,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    date_of_birth=data["date_of_birth"],
                    email=data["email"],
                    mobile=data["mobile"],
                )
                audit_record(
                    action="patient.created", request=request, obj=patient, acting_for=patient
                )
                sent = data["activate_portal"] and self._send(request, patient, data["channel"])
            if not sent:
                messages.success(request, gettext("%(patient)s added.") % {"patient": patient})
            return self._back(patient)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": gettext("Quick Add"),
        }
        return TemplateResponse(request, "admin/patients/patient/quick_add.html", context)

    @admin.action(description=_("Send Portal Registration"), permissions=["change"])
    def send_portal_registration(self, request, queryset):
        """Per patient: sent (by email if on file, else text), or skipped and why."""
        report = []
        for patient in queryset:
            status = services.portal_status(patient).state
            if status == "registered":
                report.append((patient, False, gettext("already registered")))
                continue
            if status == "revoked" and not request.user.has_perm("patients.revoke_portal_access"):
                report.append((patient, False, gettext("access was revoked by a clinic admin")))
                continue
            enabled = request.clinic.portal_settings.enabled_channels()
            channel = next(
                (
                    c
                    for c in ("email", "sms")
                    if c in enabled and services.contact_on_file(patient, c)
                ),
                None,
            )
            if channel is None:
                report.append((patient, False, gettext("no email or mobile on file")))
                continue
            try:
                services.invitation_send(
                    patient=patient, channel=channel, sent_by=request.user, request=request
                )
            except services.Represented:
                report.append((patient, False, gettext("someone else acts for this patient")))
                continue
            by = gettext("by email") if channel == "email" else gettext("by text message")
            report.append((patient, True, by))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "report": report,
            "sent": sum(1 for _p, ok, _w in report if ok),
            "title": gettext("Send Portal Registration: report"),
        }
        return TemplateResponse(request, "admin/patients/patient/send_report.html", context)


@admin.register(Invitation, site=clinic_admin_site)
class InvitationAdmin(ReadOnlyAdminMixin, ClinicScopedAdmin):
    list_display = [
        "patient",
        "relationship",
        "channel",
        "destination",
        "created_at",
        "expires_at",
        "state_label",
        "sent_by",
    ]
    phone_fields = ("destination",)
    list_filter = ["channel", "relationship"]
    list_select_related = ["patient", "sent_by"]
    search_fields = ["patient__last_name", "destination"]
    exclude = ["token_hash"]

    @admin.display(description=_("state"))
    def state_label(self, obj):
        return obj.get_state_display()


class PatientPortalAdminForm(PatientAdminForm):
    send_portal_access = forms.ChoiceField(
        label=_("Send portal access via SMS or Email"),
        choices=[("", _("Do not send now")), ("email", _("Email")), ("sms", _("SMS"))],
        required=False,
    )


class PatientPortalAdmin(PortalAccessAdminMixin, PatientAdmin):
    """The chart admin with the portal-access tools; registered in place of
    ``patients.admin.PatientAdmin`` (the patients app knows nothing of invitations)."""

    form = PatientPortalAdminForm
    list_filter = [PortalStatusFilter, *PatientAdmin.list_filter]
    actions = [*(PatientAdmin.actions or []), "send_portal_registration"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return [*fieldsets[:-1], (_("Patient portal"), {"fields": ["send_portal_access"]})]
        return fieldsets

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        channel = form.cleaned_data.get("send_portal_access")
        if not change and channel:
            self._send(request, obj, channel)


clinic_admin_site.unregister(Patient)
clinic_admin_site.register(Patient, PatientPortalAdmin)
