from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from clinics.models import IdentifierType
from patients import chart_import
from patients.models import Patient, PatientAccess
from portal.core.fields import EMAIL_ERROR, ID_NUMBER_ERROR, CanonicalEmailFormField
from portal.core.forms import DateInput, normalise_mobile
from portal.core.identifiers import (
    InvalidIdentifier,
    canonical_email,
    canonical_id_number,
)
from portal.core.phones import ClinicPhoneField, ClinicPhoneFormMixin, phone_error

# Five wrong tries ended a one-time code (patients.passcodes.Proof.TOO_MANY_TRIES).
TOO_MANY_TRIES_TEXT = _("Too many wrong tries for this code. Ask for a new code.")


class IdentificationForm(forms.Form):
    id_type = forms.ChoiceField(label=_("ID Type"))
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["id_type"].choices = [
            (t.code, t.display_label)
            for t in IdentifierType.objects.for_clinic(clinic).filter(is_active=True)
        ]

    def clean_id_number(self):
        try:
            number = canonical_id_number(self.cleaned_data["id_number"])
        except InvalidIdentifier:
            raise forms.ValidationError(ID_NUMBER_ERROR) from None
        if not 4 <= len(number) <= 32:
            raise forms.ValidationError(_("Enter the number exactly as it appears on your ID."))
        return number


class ContactForm(forms.Form):
    contact_type = forms.ChoiceField(
        label=_("Contact"),
        widget=forms.RadioSelect,
        choices=[("sms", _("Mobile")), ("email", _("Email"))],
    )
    contact = forms.CharField(
        label=_("Mobile number or email address"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        enabled = clinic.portal_settings.enabled_channels()
        field = self.fields["contact_type"]
        field.choices = [c for c in field.choices if c[0] in enabled]
        if len(field.choices) == 1:
            field.initial = field.choices[0][0]

    def clean(self):
        cleaned = super().clean()
        kind, value = cleaned.get("contact_type"), (cleaned.get("contact") or "").strip()
        if not kind or not value:
            return cleaned
        if kind == "email":
            try:
                cleaned["destination"] = canonical_email(value)
            except InvalidIdentifier:
                self.add_error("contact", EMAIL_ERROR)
        else:
            cleaned["destination"] = normalise_mobile(value, self.clinic.country)
            if cleaned["destination"] is None:
                self.add_error("contact", phone_error(self.clinic.country, mobile=True))
        return cleaned


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("One time passcode"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}
        ),
        error_messages={"min_length": _("The code has 6 digits.")},
    )

    def clean_code(self):
        code = self.cleaned_data["code"].strip()
        if not code.isdecimal():
            raise forms.ValidationError(_("The code has 6 digits."))
        return code


class RegistrationForm(ClinicPhoneFormMixin, forms.Form):
    first_name = forms.CharField(label=_("Legal first name"), max_length=150)
    last_name = forms.CharField(label=_("Legal last name"), max_length=150)
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=DateInput)
    sex = forms.ChoiceField(label=_("Sex"), choices=Patient.Sex.choices)
    address_line1 = forms.CharField(label=_("Street address"), max_length=200)
    city = forms.CharField(label=_("City"), max_length=100)
    region = forms.CharField(label=_("Province or state"), max_length=100)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20)
    mobile = ClinicPhoneField(label=_("Mobile"), required=False)
    email = CanonicalEmailFormField(label=_("Email"), required=False)
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"), choices=settings.LANGUAGES
    )
    consent = forms.BooleanField(label=_("I accept the clinic's portal terms"))

    def __init__(self, *args, clinic, proven_channel, **kwargs):
        self.clinic = clinic
        super().__init__(*args, **kwargs)
        # The contact the code proved is shown as it is; the other is optional, and
        # stays unproven (nothing is sent to it) until the patient proves it.
        proven = self.fields["email" if proven_channel == "email" else "mobile"]
        proven.disabled = True
        proven.required = True
        other = self.fields["mobile" if proven_channel == "email" else "email"]
        other.help_text = _(
            "Optional. The clinic sends nothing to it until you confirm it with a code "
            "from My information."
        )

    def clean_date_of_birth(self):
        from django.utils import timezone

        dob = self.cleaned_data["date_of_birth"]
        if dob > timezone.localdate() or dob.year < 1900:
            raise forms.ValidationError(_("Enter your date of birth."))
        return dob


class PasswordSignInForm(forms.Form):
    login = forms.CharField(
        label=_("Email or Phone"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TotpForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}
        ),
    )


class SetPasswordForm(forms.Form):
    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 12 characters. A short sentence is easy to remember."),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        cleaned = super().clean()
        one, two = cleaned.get("new_password1"), cleaned.get("new_password2")
        if one and two and one != two:
            self.add_error("new_password2", _("The two passwords are different."))
        elif one:
            try:
                password_validation.validate_password(one, self.user)
            except forms.ValidationError as error:
                self.add_error("new_password1", error)
        return cleaned


class PasswordResetRequestForm(forms.Form):
    login = forms.CharField(label=_("Email or Phone"), max_length=254)


class DemographicsForm(ClinicPhoneFormMixin, forms.Form):
    """What a patient may ask to change. Nothing here writes to the chart."""

    first_name = forms.CharField(label=_("Legal first name"), max_length=150)
    last_name = forms.CharField(label=_("Legal last name"), max_length=150)
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=DateInput)
    sex = forms.ChoiceField(label=_("Sex"), choices=Patient.Sex.choices)
    address_line1 = forms.CharField(label=_("Street address"), max_length=200, required=False)
    address_line2 = forms.CharField(label=_("Address line 2"), max_length=200, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    region = forms.CharField(label=_("Province or state"), max_length=100, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    mobile = ClinicPhoneField(label=_("Mobile"), required=False)
    home_phone = ClinicPhoneField(label=_("Home phone"), required=False)
    email = CanonicalEmailFormField(label=_("Email"), required=False)
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"), choices=settings.LANGUAGES
    )
    emergency_contact_name = forms.CharField(
        label=_("Emergency contact"), max_length=200, required=False
    )
    emergency_contact_relationship = forms.CharField(
        label=_("Emergency contact's relationship"), max_length=100, required=False
    )
    emergency_contact_phone = ClinicPhoneField(label=_("Emergency contact's phone"), required=False)

    def __init__(self, *args, clinic, **kwargs):
        self.clinic = clinic
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        dob = cleaned.get("date_of_birth")
        if dob is not None:
            from django.utils import timezone

            if dob > timezone.localdate() or dob.year < 1900:
                self.add_error("date_of_birth", _("Enter a real date of birth."))
        return cleaned


class NoticePreferencesForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["notify_appointments_by", "notify_messages_by"]


class SignInContactForm(ContactForm):
    """A new sign-in contact for the account (a code is sent to it)."""


class ConfirmContactForm(forms.Form):
    code = CodeForm.base_fields["code"]
    authenticator_code = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}
        ),
    )

    def __init__(self, *args, needs_authenticator: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not needs_authenticator:
            del self.fields["authenticator_code"]

    def clean_code(self):
        return CodeForm.clean_code(self)


class RecoveryCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Recovery code"),
        max_length=24,
        help_text=_("One of the ten codes you saved when you set up your authenticator app."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class TermsAcceptForm(forms.Form):
    accept = forms.BooleanField(label=_("I have read and accept these terms"))


class ChartFileForm(forms.Form):
    """The chart import's upload: the file's bytes, read and bounded (``chart_import``)."""

    file = forms.FileField(
        label=_("CSV file"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > chart_import.MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(size)s MB: split it into smaller files.")
                % {"size": chart_import.MAX_BYTES // (1024 * 1024)}
            )
        content = upload.read(chart_import.MAX_BYTES + 1)
        try:
            self.rows = chart_import.read_chart_file(content)
        except chart_import.FileRefused as refused:
            raise forms.ValidationError(refused.reason) from refused
        return content


class ChartImportConfirmForm(forms.Form):
    """Import what was previewed: the digest names the kept file, nothing else."""

    digest = forms.CharField(widget=forms.HiddenInput, max_length=64)


class GrantScopesForm(forms.Form):
    """What a representative's grant covers: one box per scope, as the grant has them."""

    can_appointments = forms.BooleanField(label=_("Appointments"), required=False)
    can_messages = forms.BooleanField(label=_("Messages"), required=False)
    can_demographics = forms.BooleanField(label=_("Demographics"), required=False)
    can_health_record = forms.BooleanField(
        label=_("Health record"),
        required=False,
        help_text=_(
            "Results, medications, allergies, immunizations and documents. A parent or "
            "guardian of a young child sees them without this."
        ),
    )

    def __init__(self, *args, grant: PatientAccess, **kwargs):
        initial = {f"can_{scope}": getattr(grant, f"can_{scope}") for scope in PatientAccess.SCOPES}
        super().__init__(*args, initial=initial, **kwargs)

    def scopes(self) -> dict[str, bool]:
        return {scope: self.cleaned_data[f"can_{scope}"] for scope in PatientAccess.SCOPES}
