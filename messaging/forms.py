from functools import lru_cache
from types import SimpleNamespace

from django import forms
from django.utils import formats
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from messaging.attachments import ALLOWED_EXTENSIONS, KINDS, check_upload
from messaging.models import Message, Pool, Thread
from patients.models import Patient

BODY_MAX = Message._meta.get_field("body").max_length
SUBJECT_MAX = Thread._meta.get_field("subject").max_length
# What the file picker offers; the server still checks the content (see attachments.py).
ACCEPT = ",".join([*ALLOWED_EXTENSIONS, *(kind.content_type for kind in KINDS)])


def _body_field(label):
    return forms.CharField(
        label=label,
        max_length=BODY_MAX,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": BODY_MAX}),
    )


class AttachmentMixin:
    """An optional attachment: a PDF or an image up to the clinic's limit, checked by
    its content. ``cleaned_data["attachments"]`` is the list the services accept."""

    def _setup_attachment(self, portal_settings):
        self.max_mb = portal_settings.attachment_max_mb
        self.fields["attachment"] = forms.FileField(
            label=_("Attachment (optional)"),
            required=False,
            help_text=_("A PDF or an image (PNG, JPEG or GIF), up to %(mb)s MB.")
            % {"mb": self.max_mb},
            widget=forms.FileInput(attrs={"accept": ACCEPT}),
        )

    def clean_attachment(self):
        upload = self.cleaned_data.get("attachment")
        self.cleaned_data["attachments"] = []
        if upload:
            self.cleaned_data["attachments"] = [check_upload(upload, max_mb=self.max_mb)]
        return upload


class NewThreadForm(AttachmentMixin, forms.Form):
    """A patient's side starts a thread."""

    category = forms.ChoiceField(label=_("Category"), choices=Thread.Category.choices)
    subject = forms.CharField(label=_("Subject"), max_length=SUBJECT_MAX)
    body = _body_field(_("Message"))

    def __init__(self, *args, portal_settings, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_attachment(portal_settings)


class ReplyForm(AttachmentMixin, forms.Form):
    body = _body_field(_("Your reply"))

    def __init__(self, *args, portal_settings, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_attachment(portal_settings)


def blank_reply_form_html(*, portal_settings) -> str:
    """The unbound reply form's HTML. It depends only on the language and the clinic's
    attachment limit, so it is rendered once per process for each (most of a thread
    page's time was rendering it; a form with errors is rendered as usual)."""
    return _blank_reply_form_html(get_language(), portal_settings.attachment_max_mb)


@lru_cache(maxsize=64)
def _blank_reply_form_html(language, max_mb):
    form = ReplyForm(portal_settings=SimpleNamespace(attachment_max_mb=max_mb))
    return mark_safe(str(form))  # noqa: S308 - the form's own rendering, escaped when rendered


class PatientChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj} · {formats.date_format(obj.date_of_birth, 'DATE_FORMAT')}"


class StaffNewThreadForm(NewThreadForm):
    """Staff start a thread with a patient of their clinic (chosen here, or fixed by
    ``?patient=<id>`` from the patient's page)."""

    field_order = ["patient", "category", "subject", "body", "attachment"]

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, portal_settings=clinic.portal_settings, **kwargs)
        self.fields["patient"] = PatientChoiceField(
            label=_("Patient"),
            queryset=Patient.objects.for_clinic(clinic).order_by("last_name", "first_name", "id"),
        )
        self.fields["subject"].widget.attrs["class"] = "vTextField"
        self.order_fields(self.field_order)


class StaffReplyForm(ReplyForm):
    body = _body_field(_("Reply"))


class PoolChoiceForm(forms.Form):
    """Staff move a thread to one of the clinic's pools (empty: no pool)."""

    pool = forms.ModelChoiceField(
        label=_("Pool"), queryset=Pool.objects.none(), required=False, empty_label=_("No pool")
    )

    def __init__(self, *args, clinic, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pool"].queryset = Pool.objects.for_clinic(clinic).order_by("name", "id")
