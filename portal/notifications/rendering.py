from dataclasses import dataclass, field

from django.template.context import make_context
from django.template.loader import get_template, render_to_string
from django.utils import translation

from portal.core.phones import phone_region
from portal.notifications.registry import Attachment, build_attachments, build_context


@dataclass
class Rendered:
    subject: str
    text: str
    html: str | None
    attachments: list[Attachment] = field(default_factory=list)


def _render_plain(name: str, context: dict) -> str:
    """Plain text (SMS, subject, text part): no HTML escaping ("St. Mary's", not "&#x27;")."""
    return get_template(name).template.render(make_context(context, autoescape=False))


def render_notification(notification) -> Rendered:
    """Email: emails/<name>.subject.txt, .txt, .html and the files its template
    registered (``register_attachments``); SMS: sms/<name>.txt."""
    name = notification.template
    with translation.override(notification.language), phone_region(notification.clinic.country):
        # Builders format dates and times: in the recipient's language, like the text.
        context = build_context(notification)
        if notification.channel == notification.Channel.SMS:
            return Rendered(
                subject="", text=_render_plain(f"sms/{name}.txt", context).strip(), html=None
            )
        subject = _render_plain(f"emails/{name}.subject.txt", context)
        return Rendered(
            subject=" ".join(subject.split()),
            text=_render_plain(f"emails/{name}.txt", context),
            html=render_to_string(f"emails/{name}.html", context),
            attachments=build_attachments(notification),
        )
