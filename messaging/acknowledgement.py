"""The clinic's automatic acknowledgement of a patient's message: the stated reply time in
working days (the pool's, else the clinic's), and while the pool is away, its dates and
the day an answer can be expected after its return.

Written in the patient's language (``Patient.preferred_language``), because it is stored
as the text of a message. Working days are Monday to Friday; the clinic's own holidays
are what an out-of-office period is for.
"""

import datetime as dt

from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext


def add_working_days(day: dt.date, days: int) -> dt.date:
    """The ``days``-th working day (Monday to Friday) after ``day``."""
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def reply_working_days(*, portal_settings, pool) -> int:
    if pool is not None and pool.reply_working_days:
        return pool.reply_working_days
    return portal_settings.message_reply_working_days


def acknowledgement_text(*, portal_settings, pool, today: dt.date, language: str) -> str:
    """The acknowledgement's text for a message written on ``today`` (the clinic's date)."""
    days = reply_working_days(portal_settings=portal_settings, pool=pool)
    with translation.override(language):
        parts = [gettext("Thank you, the clinic has received your message.")]
        if pool is not None and pool.is_away_on(today):
            back = pool.away_until
            parts.append(
                gettext("%(pool)s are away from %(start)s to %(end)s.")
                % {
                    "pool": pool.name,
                    "start": date_format(pool.away_from, "DATE_FORMAT"),
                    "end": date_format(back, "DATE_FORMAT"),
                }
            )
            parts.append(
                ngettext(
                    "You can expect an answer within %(days)d working day of their return, "
                    "by %(date)s.",
                    "You can expect an answer within %(days)d working days of their return, "
                    "by %(date)s.",
                    days,
                )
                % {"days": days, "date": date_format(add_working_days(back, days), "DATE_FORMAT")}
            )
            if pool.away_note:
                parts.append(pool.away_note)
        else:
            parts.append(
                ngettext(
                    "You can expect an answer within %(days)d working day.",
                    "You can expect an answer within %(days)d working days.",
                    days,
                )
                % {"days": days}
            )
        parts.append(gettext("For urgent matters call the clinic or emergency services."))
        return " ".join(parts)
