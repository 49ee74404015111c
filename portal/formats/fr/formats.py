"""How the portal writes dates and times in French (see ``portal.formats.en``)."""

DATE_FORMAT = "j F Y"  # 14 mars 1958
DATETIME_FORMAT = "j F Y, G \\h i"  # 14 mars 2026, 14 h 30
TIME_FORMAT = "G \\h i"  # 14 h 30, 9 h 00
MONTH_DAY_FORMAT = "l j F"  # mardi 24 novembre
YEAR_MONTH_FORMAT = "F Y"  # novembre 2026
SHORT_DATE_FORMAT = "Y-m-d"  # 2026-11-24
SHORT_DATETIME_FORMAT = "Y-m-d G \\h i"  # 2026-11-24 14 h 30
WEEKDAY_DATE_FORMAT = "l j F Y"  # mardi 24 novembre 2026
FIRST_DAY_OF_WEEK = 0  # dimanche

DATE_INPUT_FORMATS = [
    "%Y-%m-%d",  # 1958-03-14
    "%d/%m/%Y",  # 14/03/1958
    "%d-%m-%Y",  # 14-03-1958
]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%d/%m/%Y %H:%M",
]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S", "%Hh%M", "%H h %M"]
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "\xa0"
NUMBER_GROUPING = 3
