import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from appointments.selectors import bookable_providers, bookable_types
from portal.core.forms import DateInput

# How far ahead a search may start; also keeps slot arithmetic off the calendar's end.
SEARCH_HORIZON = dt.timedelta(days=2 * 365)


class SlotSearchForm(forms.Form):
    """Type → provider (or any) → date. Submitted with GET; no JavaScript needed."""

    appointment_type = forms.ModelChoiceField(
        label=_("Type of appointment"), queryset=None, empty_label=None
    )
    provider = forms.ChoiceField(label=_("Provider"), required=False)
    date = forms.DateField(label=_("From"), widget=DateInput, required=False)

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["appointment_type"].queryset = bookable_types(clinic)
        chosen = self.data.get("appointment_type")
        providers = []
        # isdecimal, not isdigit: "²" is a digit that int() refuses.
        if chosen and str(chosen).isdecimal():
            kind = bookable_types(clinic).filter(pk=chosen).first()
            if kind:
                providers = [(str(p.pk), p.name) for p in bookable_providers(clinic, kind)]
        self.fields["provider"].choices = [("", _("Any available provider")), *providers]

    def clean_date(self):
        today = timezone.localdate()
        day = self.cleaned_data.get("date") or today + dt.timedelta(days=1)
        window = dt.timedelta(days=self.clinic.portal_settings.booking_window_days)
        return min(max(day, today), today + min(window, SEARCH_HORIZON))


class ConfirmForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for visit"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("A few words help the clinic prepare. Only the clinic sees this."),
    )
