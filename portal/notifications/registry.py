"""What each notification template needs to render.

A template registers a builder that turns the ids stored on the Notification into a
template context, re-fetching rows at send time (and generating one-time secrets there,
so no code or token is ever stored on the row or passed to a task).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

_builders: dict[str, Callable] = {}
_labels: dict[str, str] = {}
_attachment_builders: dict[str, Callable] = {}
_labels: dict[str, str] = {}


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email, built at send time (never stored on the row).
    ``params`` are extra Content-Type parameters, e.g. (("method", "REQUEST"),)."""

    filename: str
    content: bytes
    mimetype: str
    params: tuple[tuple[str, str], ...] = ()


class Obsolete(Exception):  # noqa: N818 - reads as "this notification is obsolete"
    """Raised by a builder when the notification should no longer go out (a newer code
    was requested, the account is gone). The notification is cancelled, not sent."""


def register(template: str, *, label=None):
    """Register ``template``'s context builder; ``label`` names it for staff (the
    notifications list, its filter and detail page)."""

    def decorator(builder):
        _builders[template] = builder
        if label is not None:
            _labels[template] = label
        return builder

    return decorator


def template_label(template: str) -> str:
    """The words staff read for ``template`` (the code itself when it has none)."""
    return _labels.get(template, template)


def template_choices() -> list[tuple[str, str]]:
    return sorted(_labels.items(), key=lambda item: str(item[1]))


def register_attachments(template: str):
    """Register a function that returns the files an email of ``template`` carries; it
    is called at send time, in the recipient's language, with the notification."""

    def decorator(builder):
        _attachment_builders[template] = builder
        return builder

    return decorator


def build_attachments(notification) -> list[Attachment]:
    builder = _attachment_builders.get(notification.template)
    return list(builder(notification)) if builder else []


def is_registered(template: str) -> bool:
    return template in _builders


def build_context(notification) -> dict:
    clinic = notification.clinic
    context = {
        "clinic": clinic,
        "clinic_name": clinic.public_name,
        "clinic_phone": clinic.phone,
        "portal_url": clinic.build_url("/portal/"),
    }
    context.update(_builders[notification.template](notification))
    return context


@register("staff_test", label=_("Test message"))
def _staff_test(notification):
    """A test message a clinic admin sends to check the clinic's email and SMS set-up."""
    return {}
