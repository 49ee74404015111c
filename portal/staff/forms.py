from django import forms
from django.contrib.auth.forms import PasswordChangeForm
from django.utils.translation import gettext_lazy as _


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
