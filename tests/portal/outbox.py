"""The outbox as tests drive it: send a row now, and the notices every template has.

``RENDERABLE`` lists every (template, channel) pair that has its files (some notices
exist in one channel only); ``SAMPLE_CONTEXT`` stands in for what any template's builder
returns.
"""

from django.template import TemplateDoesNotExist
from django.template.loader import get_template

from portal.notifications import registry
from portal.notifications.delivery import notification_send
from portal.notifications.models import Notification


def send_now(row):
    """Send the outbox row as the task would, and read back its outcome."""
    outcome = notification_send(notification_id=row.pk, clinic_id=row.clinic_id)
    row.refresh_from_db()
    return outcome


def template_names(template, channel):
    if channel == "sms":
        return [f"sms/{template}.txt"]
    return [f"emails/{template}.subject.txt", f"emails/{template}.txt", f"emails/{template}.html"]


def template_exists(name):
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return False
    return True


REGISTERED = sorted(registry._builders)

# Stands in for what any template's builder returns (codes, links, names): the builders
# themselves need real rows and are tested with their features. Unused keys are harmless.
SAMPLE_CONTEXT = {
    "code": "493027",
    "minutes": 10,
    "link": "http://demo.localhost:8000/portal/reset/MQ/set-password/",
    "first_name": "Alice",
    "patient_name": "Alice Example",
    "when": "Nov. 24, 2026, 09:15",
    "when_local": "24 November 2026, 9:15 AM",
    "provider_name": "Dr Osei",
    "type_name": "Regular visit",
    "clinic_address": "100 Bank Street, Ottawa",
}


def use_sample_context(monkeypatch, template):
    """Render ``template`` from SAMPLE_CONTEXT, with no attachments (those need real rows
    and are tested with their features)."""
    if template != "staff_test":
        monkeypatch.setitem(registry._builders, template, lambda notification: SAMPLE_CONTEXT)
    monkeypatch.setattr(registry, "_attachment_builders", {})


# Every (template, channel) pair that has its files; some notices exist in one channel only.
RENDERABLE = [
    (template, channel)
    for template in REGISTERED
    for channel in Notification.Channel.values
    if all(template_exists(name) for name in template_names(template, channel))
]


def staff_invitation_link(outbox) -> str:
    """The staff invitation link in the newest email of ``outbox`` (django.core.mail)."""
    import re

    return re.search(r"http://\S+/admin/account/invitation/\S+/", outbox[-1].body).group(0)
