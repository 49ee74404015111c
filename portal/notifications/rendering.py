from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import translation

from portal.notifications.registry import build_context


@dataclass
class Rendered:
    subject: str
    text: str
    html: str | None


def render_notification(notification) -> Rendered:
    """Email: emails/<name>.subject.txt, .txt, .html; SMS: sms/<name>.txt."""
    context = build_context(notification)
    name = notification.template
    with translation.override(notification.language):
        if notification.channel == notification.Channel.SMS:
            return Rendered(
                subject="", text=render_to_string(f"sms/{name}.txt", context).strip(), html=None
            )
        subject = render_to_string(f"emails/{name}.subject.txt", context)
        return Rendered(
            subject=" ".join(subject.split()),
            text=render_to_string(f"emails/{name}.txt", context),
            html=render_to_string(f"emails/{name}.html", context),
        )
