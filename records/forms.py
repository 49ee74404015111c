from django import forms
from django.utils.translation import gettext_lazy as _


class ResultPreferenceForm(forms.Form):
    wait_for_review = forms.BooleanField(
        label=_("Wait for my clinician's review before showing new results"),
        required=False,
        help_text=_(
            "New results then appear once your clinician has looked at them. Results "
            "you can already see stay here."
        ),
    )
