"""Form helpers every app uses: a date input the browser shows as a calendar, and the
mobile number a person typed, read with the clinic's country."""

from django import forms

from portal.core.identifiers import InvalidIdentifier, canonical_mobile


class DateInput(forms.DateInput):
    input_type = "date"


def normalise_mobile(value, region):
    """The canonical (E.164) mobile number, or None when it is not one."""
    try:
        return canonical_mobile(value, region)
    except InvalidIdentifier:
        return None
