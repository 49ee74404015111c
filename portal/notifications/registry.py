"""What each notification template needs to render.

A template registers a builder that turns the ids stored on the Notification into a
template context, re-fetching rows at send time (and generating one-time secrets there,
so no code or token is ever stored on the row or passed to a task).
"""

from collections.abc import Callable

_builders: dict[str, Callable] = {}


class Obsolete(Exception):  # noqa: N818 - reads as "this notification is obsolete"
    """Raised by a builder when the notification should no longer go out (a newer code
    was requested, the account is gone). The notification is cancelled, not sent."""


def register(template: str):
    def decorator(builder):
        _builders[template] = builder
        return builder

    return decorator


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


@register("staff_test")
def _staff_test(notification):
    """A test message a clinic admin sends to check the clinic's email and SMS set-up."""
    return {}
