from django import forms
from django.utils.translation import gettext_lazy as _

from records.models import RefillRequest


class ResultPreferenceForm(forms.Form):
    wait_for_review = forms.BooleanField(
        label=_("Wait for my clinician's review before showing new results"),
        required=False,
        help_text=_(
            "New results then appear once your clinician has looked at them. Results "
            "you can already see stay here."
        ),
    )


class RefillRequestForm(forms.Form):
    pharmacy_note = forms.CharField(
        label=_("Note for the pharmacy"),
        max_length=RefillRequest.NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Which pharmacy you use, and anything it should know (e.g. “Main Street "
            "Pharmacy, I will collect it on Friday”). Up to 200 characters."
        ),
    )
