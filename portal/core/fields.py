"""Model and form fields that store canonical identifiers (``portal.core.identifiers``).

A value is canonicalised when a form cleans it (a look-alike becomes a form error) and
again when it is saved, so no code path can store a spelling that compares differently.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.core.identifiers import InvalidIdentifier, canonical_email, canonical_id_number

EMAIL_ERROR = _(
    "Enter an email address like name@example.com, in plain letters "
    "(letters that only look like Latin ones are not accepted)."
)
ID_NUMBER_ERROR = _(
    "Enter the number exactly as it appears on the ID, in plain letters and digits."
)


class CanonicalEmailFormField(forms.EmailField):
    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        try:
            return canonical_email(value)
        except InvalidIdentifier as exc:
            raise ValidationError(EMAIL_ERROR, code="invalid") from exc


def validate_email_identifier(value):
    try:
        canonical_email(value)
    except InvalidIdentifier as exc:
        raise ValidationError(EMAIL_ERROR, code="invalid") from exc


def validate_id_number(value):
    try:
        canonical_id_number(value)
    except InvalidIdentifier as exc:
        raise ValidationError(ID_NUMBER_ERROR, code="invalid") from exc


class CanonicalEmailField(models.EmailField):
    """An email stored canonical: NFKC, dot-atom local part lower-cased, IDNA domain.

    Look-ups are not rewritten: callers compare canonical values (exact equality)."""

    default_validators = [*models.EmailField.default_validators, validate_email_identifier]

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value:
            value = canonical_email(value)  # InvalidIdentifier: a caller skipped validation
            setattr(model_instance, self.attname, value)
        return value

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": CanonicalEmailFormField, **kwargs})


class CanonicalIdNumberField(models.CharField):
    """An ID number stored canonical: NFKC, ASCII digits, upper case, no separators."""

    default_validators = [validate_id_number]

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value:
            value = canonical_id_number(value)
            setattr(model_instance, self.attname, value)
        return value
