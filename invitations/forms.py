from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from portal.core.forms import DateInput


class ConfirmBirthDateForm(forms.Form):
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=DateInput)


class AcceptForm(forms.Form):
    """Choose how to sign in from now on, and accept the terms."""

    method = forms.ChoiceField(
        label=_("How do you want to sign in?"),
        widget=forms.RadioSelect,
        choices=[
            ("password", _("With a password")),
            ("passcode", _("With a one time passcode sent to me each time")),
        ],
        initial="password",
    )
    new_password1 = forms.CharField(
        label=_("New password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters. A short sentence is easy to remember."),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    terms = forms.BooleanField(label=_("I accept the clinic's portal terms"))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("method") != "password":
            return cleaned
        one, two = cleaned.get("new_password1"), cleaned.get("new_password2")
        if not one:
            self.add_error("new_password1", _("Choose a password, or sign in with passcodes."))
        elif one != two:
            self.add_error("new_password2", _("The two passwords are different."))
        else:
            try:
                password_validation.validate_password(one)
            except forms.ValidationError as error:
                self.add_error("new_password1", error)
        return cleaned
