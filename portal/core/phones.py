"""One way to read and show phone numbers.

Reading: every form's phone field is ``ClinicPhoneField`` (forms built by
``clinic_phone_fields`` or ``ClinicPhoneFormMixin`` get it), which reads what a person
typed with the clinic's country ("613-555-0150" in Canada) through the same canonical
parse as sign-in (``canonical_mobile``: NFKC, then ``phonenumbers``) and stores E.164.
Its error gives an example number of the clinic's country.

Showing: ``phone_display`` (the ``phone`` template filter) writes a number in the national
format of the clinic's country, and in the international format when it belongs to
another country. The clinic's country comes from the argument, else from
``phone_region`` (the tenant middleware sets it for each request, notification rendering
for each message), else the number is written internationally. Anything that is not a
phone number (an email address in a "destination") is shown as it is.
"""

from contextlib import contextmanager
from contextvars import ContextVar

import phonenumbers
from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext_lazy as _
from phonenumber_field import formfields as phone_formfields
from phonenumber_field.modelfields import PhoneNumberField as PhoneNumberModelField
from phonenumber_field.phonenumber import PhoneNumber

from portal.core.identifiers import InvalidIdentifier, canonical_mobile

_region: ContextVar[str | None] = ContextVar("portal_phone_region", default=None)


@contextmanager
def phone_region(region: str | None):
    """Within the block, numbers are shown as the clinic of ``region`` writes them."""
    token = _region.set((region or "").upper() or None)
    try:
        yield
    finally:
        _region.reset(token)


def current_region() -> str | None:
    return _region.get()


def _parsed(value, region):
    if isinstance(value, phonenumbers.PhoneNumber):  # the library's and the field's
        return value if phonenumbers.is_valid_number(value) else None
    text = str(value).strip()
    if "@" in text or not any(ch.isdigit() for ch in text):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def is_domestic(number, region: str | None) -> bool:
    """True when ``number`` is dialled like a local one in ``region`` (same country code)."""
    return bool(region) and region in phonenumbers.region_codes_for_country_code(
        number.country_code
    )


def phone_display(value, region: str | None = None) -> str:
    """``value`` as people of the clinic's country write it: national at home,
    international abroad; anything that is not a valid number, unchanged."""
    if value is None or value == "":
        return ""
    region = (region or current_region() or "").upper() or None
    number = _parsed(value, region)
    if number is None:
        return str(value)
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if is_domestic(number, region)
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


def example_number(region: str | None) -> str:
    """A mobile number of the clinic's country, as its people write it."""
    region = (region or "").upper()
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if number is None:
        return "+1 613-555-0123"
    return phone_display(number, region)


def phone_error(region: str | None, *, mobile: bool = False):
    """The error for a number that does not read, with an example of the clinic's country."""
    if mobile:
        text = _("Enter a mobile number with its area code, like %(example)s.")
    else:
        text = _("Enter a phone number with its area code, like %(example)s.")
    return text % {"example": example_number(region)}


class ClinicPhoneWidget(forms.TextInput):
    """A telephone input that shows a stored number the way the clinic writes it."""

    input_type = "tel"

    def __init__(self, region=None, attrs=None):
        self.region = region
        super().__init__({"autocomplete": "tel", **(attrs or {})})

    def format_value(self, value):
        if value is None or value == "":
            return None
        return phone_display(value, self.region)


class ClinicPhoneField(phone_formfields.PhoneNumberField):
    """A phone number read with the clinic's country; cleans to E.164 ("" when empty)."""

    widget = ClinicPhoneWidget

    def __init__(self, *args, region=None, **kwargs):
        kwargs.setdefault("error_messages", {})
        super().__init__(*args, region=(region or "").upper() or None, **kwargs)
        self.set_region(self.region)

    def set_region(self, region):
        self.region = (region or "").upper() or None
        self.widget.region = self.region
        self.error_messages["invalid"] = phone_error(self.region)

    def to_python(self, value):
        if value in self.empty_values:
            return ""
        if isinstance(value, PhoneNumber):
            value = value.as_e164 if value.is_valid() else value.raw_input
        try:
            return canonical_mobile(str(value), self.region)
        except InvalidIdentifier:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None

    def validate(self, value):
        # ``to_python`` already refused anything but a valid number.
        forms.Field.validate(self, value)

    def run_validators(self, value):
        if value in self.empty_values:
            return
        super().run_validators(value)

    def has_changed(self, initial, data):
        try:
            return self.to_python(initial) != self.to_python(data)
        except forms.ValidationError:
            return True


def clinic_phone_fields(form, region: str | None) -> None:
    """Every phone field of ``form`` reads and shows numbers with the clinic's country.

    Model forms get the library's field for a ``PhoneNumberField``: it is replaced by
    ``ClinicPhoneField`` keeping its label, help text, required and disabled state.
    """
    for name, field in list(form.fields.items()):
        if isinstance(field, ClinicPhoneField):
            field.set_region(region)
        elif isinstance(field, phone_formfields.PhoneNumberField):
            replacement = ClinicPhoneField(
                region=region,
                required=field.required,
                label=field.label,
                help_text=field.help_text,
                disabled=field.disabled,
                initial=field.initial,
                max_length=getattr(field, "max_length", None),
            )
            form.fields[name] = replacement


class ClinicPhoneFormMixin:
    """For forms given the clinic (``clinic=`` or a ``clinic`` attribute): every phone
    field reads with the clinic's country."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        clinic = getattr(self, "clinic", None)
        clinic_phone_fields(self, getattr(clinic, "country", None) or current_region())


def _is_phone_model_field(model, name) -> bool:
    try:
        return isinstance(model._meta.get_field(name), PhoneNumberModelField)
    except FieldDoesNotExist:  # a method, a property or a lookup
        return False


_shown_columns: dict = {}


def phone_column(model, name):
    """An admin column or read-only field showing ``model.name`` with ``phone_display``,
    labelled and sorted as the field itself."""
    key = (model, name)
    if key not in _shown_columns:

        def shown(obj):
            return phone_display(getattr(obj, name, ""))

        shown.__name__ = name
        try:
            shown.short_description = model._meta.get_field(name).verbose_name
            shown.admin_order_field = name
        except FieldDoesNotExist:  # a property of the model
            shown.short_description = name.replace("_", " ")
        _shown_columns[key] = shown
    return _shown_columns[key]


class PhoneDisplayAdminMixin:
    """Admin lists and read-only fields show numbers as the clinic writes them.

    Every ``PhoneNumberField`` of the model, and the names in ``phone_fields`` (text
    columns that may hold a number, such as a notification's recipient), are replaced in
    ``list_display`` and among the read-only fields of the change page and its inlines
    (a view-only user's whole form included) by ``phone_column``.
    """

    phone_fields: tuple[str, ...] = ()

    def _phone_name(self, model, item) -> bool:
        return isinstance(item, str) and (
            item in self.phone_fields or _is_phone_model_field(model, item)
        )

    def _shown(self, model, items, readonly):
        return [
            phone_column(model, item)
            if self._phone_name(model, item) and item in readonly
            else item
            for item in items
        ]

    def get_list_display(self, request):
        items = super().get_list_display(request)
        return [
            phone_column(self.model, i) if self._phone_name(self.model, i) else i for i in items
        ]

    def _show_phones_in(self, model, holder):
        readonly = {r for r in holder.readonly_fields if isinstance(r, str)}
        if not any(self._phone_name(model, r) for r in readonly):
            return
        holder.readonly_fields = self._shown(model, holder.readonly_fields, readonly)
        holder.fieldsets = [
            (
                title,
                {
                    **options,
                    "fields": [
                        tuple(self._shown(model, f, readonly))
                        if isinstance(f, (list, tuple))
                        else self._shown(model, [f], readonly)[0]
                        for f in options.get("fields", ())
                    ],
                },
            )
            for title, options in holder.fieldsets
        ]

    def render_change_form(self, request, context, *args, **kwargs):
        adminform = context.get("adminform")
        if adminform is not None:
            self._show_phones_in(self.model, adminform)
        for inline in context.get("inline_admin_formsets", ()):
            inline_model = inline.opts.model
            self._show_phones_in(inline_model, inline)
        return super().render_change_form(request, context, *args, **kwargs)
