from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clinics.models import User
from clinics.scoped_admin import ClinicScopedModelForm
from portal.staff.models import StaffInvitation


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the app"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class StaffPasswordChangeForm(PasswordChangeForm):
    """Checks the current password and the new one (the password validators); the
    change itself is ``services.staff_password_change``."""

    required_css_class = "required"

    def save(self, commit=True):
        raise NotImplementedError("use portal.staff.services.staff_password_change")


class StaffInvitationAcceptForm(forms.Form):
    """The invited person's own password, checked by the password validators (against
    the invitation's username, email and names too)."""

    required_css_class = "required"

    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, invitation, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = invitation

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("new_password1"), cleaned.get("new_password2")
        if first and second:
            if first != second:
                self.add_error("new_password2", _("The two passwords are not the same."))
            else:
                invitation = self.invitation
                future = User(
                    username=invitation.username,
                    email=invitation.email,
                    first_name=invitation.first_name,
                    last_name=invitation.last_name,
                )
                try:
                    password_validation.validate_password(first, user=future)
                except ValidationError as error:
                    self.add_error("new_password1", error)
        return cleaned


class StaffInvitationFormMixin:
    """Refuses a username or email the clinic's accounts already use (the service
    checks again, in case one was made meanwhile)."""

    def invitation_clinic(self):
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        clinic = self.invitation_clinic()
        if clinic is None:
            return cleaned
        accounts = User.objects.for_clinic(clinic)
        username, email = cleaned.get("username"), cleaned.get("email")
        if username and accounts.filter(username__iexact=username).exists():
            self.add_error("username", _("This clinic already has an account with that username."))
        if email and accounts.filter(email=email).exists():
            self.add_error("email", _("This clinic already has an account with that email."))
        return cleaned


class ClinicStaffInvitationForm(StaffInvitationFormMixin, ClinicScopedModelForm):
    """A clinic admin invites a colleague (front desk or clinic admin)."""

    class Meta:
        model = StaffInvitation
        fields = ["email", "username", "first_name", "last_name", "role"]

    def invitation_clinic(self):
        return self.clinic


class OperatorStaffInvitationForm(StaffInvitationFormMixin, forms.ModelForm):
    """An operator invites a clinic's clinic admin (the role is fixed)."""

    class Meta:
        model = StaffInvitation
        fields = ["clinic", "email", "username", "first_name", "last_name"]

    def invitation_clinic(self):
        return self.cleaned_data.get("clinic")
