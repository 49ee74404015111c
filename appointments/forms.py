from django import forms
from django.utils.translation import gettext_lazy as _

from appointments.models import AppointmentRequest, AppointmentType, Provider
from appointments.selectors import bookable_providers, bookable_types
from portal.core.forms import DateInput

# Dates the week field accepts: wide enough for any booking window, narrow enough that
# a week's arithmetic never leaves the calendar.
FIRST_YEAR, LAST_YEAR = 1900, 2999


class ProviderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, provider):
        if provider.title:
            return f"{provider.name} ({provider.title})"
        return provider.name


class SlotSearchForm(forms.Form):
    """Type and provider (or any), then a week. Submitted with GET (the week's links
    too); no JavaScript needed. Every bookable provider is listed at once, whatever the
    type: a provider who does not offer the type chosen is said so, not hidden."""

    appointment_type = forms.ModelChoiceField(
        label=_("Type of appointment"), queryset=None, empty_label=None
    )
    provider = ProviderChoiceField(
        label=_("Provider"), queryset=None, required=False, empty_label=_("Any provider")
    )
    week = forms.DateField(
        label=_("Week of"),
        widget=DateInput,
        required=False,
        help_text=_("Any day of the week you want to see. Leave it empty for this week."),
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["appointment_type"].queryset = bookable_types(clinic)
        self.fields["provider"].queryset = bookable_providers(clinic).prefetch_related(
            "appointment_types"
        )

    def clean_week(self):
        day = self.cleaned_data.get("week")
        if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise forms.ValidationError(_("Enter a real date."), code="out_of_range")
        return day

    def clean(self):
        cleaned = super().clean()
        kind, provider = cleaned.get("appointment_type"), cleaned.get("provider")
        if kind and provider and kind not in provider.appointment_types.all():
            self.add_error(
                "provider",
                _("%(provider)s does not offer %(type)s. Pick another provider, or any provider.")
                % {"provider": provider.name, "type": kind.name},
            )
        return cleaned

    def providers(self):
        """The providers whose times to show, in the order the first free one is picked."""
        kind, provider = self.cleaned_data["appointment_type"], self.cleaned_data["provider"]
        providers = bookable_providers(self.clinic, kind)
        return providers.filter(pk=provider.pk) if provider else providers


class ConfirmForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for visit"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("A few words help the clinic prepare. Only the clinic sees this."),
    )


class ProviderDayForm(forms.Form):
    """The front desk's day view: a provider, a type of visit and a day (GET). The
    patient, when the view was opened from a chart, rides along into the booking links."""

    provider = ProviderChoiceField(label=_("Provider"), queryset=None, empty_label=None)
    appointment_type = forms.ModelChoiceField(
        label=_("Type of appointment"), queryset=None, empty_label=None
    )
    day = forms.DateField(label=_("Day"), widget=DateInput)
    patient = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = (
            Provider.objects.for_clinic(clinic)
            .filter(is_active=True)
            .select_related("clinic")
            .prefetch_related("availability")
        )
        self.fields["appointment_type"].queryset = AppointmentType.objects.for_clinic(
            clinic
        ).filter(is_active=True)

    def clean_day(self):
        day = self.cleaned_data["day"]
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise forms.ValidationError(_("Enter a real date."), code="out_of_range")
        return day


class AppointmentRequestForm(forms.Form):
    """What a patient asks for when the clinic takes requests: a type, a provider (or
    any), the days and times that suit them, and a short note. No clinical free text:
    the note is limited to a line or two."""

    appointment_type = forms.ModelChoiceField(
        label=_("Type of appointment"), queryset=None, empty_label=None
    )
    provider = ProviderChoiceField(
        label=_("Provider"), queryset=None, required=False, empty_label=_("Any provider")
    )
    days = forms.MultipleChoiceField(
        label=_("Days that suit you"),
        choices=AppointmentRequest.Day.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked if any day suits you."),
    )
    times = forms.MultipleChoiceField(
        label=_("Times that suit you"),
        choices=AppointmentRequest.Time.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked if any time suits you."),
    )
    note = forms.CharField(
        label=_("Note for the front desk (optional)"),
        max_length=AppointmentRequest.NOTE_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "For scheduling only, e.g. “not before 10 a.m.”. Please do not describe symptoms here."
        ),
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["appointment_type"].queryset = bookable_types(clinic)
        self.fields["provider"].queryset = bookable_providers(clinic).prefetch_related(
            "appointment_types"
        )

    def clean(self):
        cleaned = super().clean()
        kind, provider = cleaned.get("appointment_type"), cleaned.get("provider")
        if kind and provider and kind not in provider.appointment_types.all():
            self.add_error(
                "provider",
                _("%(provider)s does not offer %(type)s. Pick another provider, or any provider.")
                % {"provider": provider.name, "type": kind.name},
            )
        return cleaned


class RequestDayForm(forms.Form):
    """The request screen's search for a time: a provider offering the type asked for,
    and a day (GET)."""

    provider = ProviderChoiceField(label=_("Provider"), queryset=None, empty_label=None)
    day = forms.DateField(label=_("Day"), widget=DateInput)

    def __init__(self, *args, clinic, appointment_type, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = (
            Provider.objects.for_clinic(clinic)
            .filter(is_active=True, appointment_types=appointment_type)
            .select_related("clinic")
            .prefetch_related("availability")
        )

    def clean_day(self):
        day = self.cleaned_data["day"]
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise forms.ValidationError(_("Enter a real date."), code="out_of_range")
        return day


class RequestDeclineForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (the patient reads it in the portal)"),
        max_length=AppointmentRequest.REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "No health information: e.g. “No appointments free that week, please call us.”"
        ),
    )
