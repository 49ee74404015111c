"""The filters every template has (a builtin, see TEMPLATES): one way to show a phone
number and the portal's named date formats.

``{{ patient.mobile|phone }}``: national format for the clinic's country, international
for another country (``portal.core.phones.phone_display``).
``{{ appointment.start|weekday_date }}``: "Tuesday 24 November 2026" / "mardi 24 novembre
2026" (``WEEKDAY_DATE_FORMAT`` of ``portal/formats/<lang>/formats.py``). Django's own
names (``DATE_FORMAT``, ``MONTH_DAY_FORMAT``, ``TIME_FORMAT``, …) go through ``date`` and
``time`` as usual; a template never spells a format out (tests/test_formats.py).
"""

from django import template
from django.utils import timezone

from portal.core.dates import weekday_date
from portal.core.phones import phone_display

register = template.Library()


@register.filter(name="phone")
def phone(value, region=None):
    return phone_display(value, region)


@register.filter(name="weekday_date")
def weekday_date_filter(value):
    if value in (None, ""):
        return ""
    if hasattr(value, "tzinfo") and hasattr(value, "hour") and timezone.is_aware(value):
        value = timezone.localtime(value)
    return weekday_date(value)
