"""How the portal writes dates and times in English: one format per use, on every page,
in the admin and in emails (FORMAT_MODULE_PATH). Named filters for the portal's own
names are in ``portal.core.templatetags.portal_format``."""

DATE_FORMAT = "j F Y"  # 14 March 1958
DATETIME_FORMAT = "j F Y, g:i A"  # 14 March 2026, 2:30 PM
TIME_FORMAT = "g:i A"  # 2:30 PM
MONTH_DAY_FORMAT = "l j F"  # Tuesday 24 November
YEAR_MONTH_FORMAT = "F Y"  # November 2026
SHORT_DATE_FORMAT = "Y-m-d"  # 2026-11-24
SHORT_DATETIME_FORMAT = "Y-m-d g:i A"  # 2026-11-24 2:30 PM
# The portal's own name: a day with its weekday (appointments).
WEEKDAY_DATE_FORMAT = "l j F Y"  # Tuesday 24 November 2026
FIRST_DAY_OF_WEEK = 0  # Sunday

# What people may type. The first is what date fields show and the browser's date
# input sends.
DATE_INPUT_FORMATS = [
    "%Y-%m-%d",  # 1958-03-14
    "%d/%m/%Y",  # 14/03/1958
    "%B %d %Y",  # March 14 1958
    "%B %d, %Y",  # March 14, 1958
    "%d %B %Y",  # 14 March 1958
    "%b %d %Y",  # Mar 14 1958
    "%b %d, %Y",  # Mar 14, 1958
]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%d/%m/%Y %H:%M",
]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S", "%I:%M %p"]
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
