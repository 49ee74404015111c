"""Where the ``frozen`` fixture (tests/conftest.py) stops the clock, unless a suite's
``now`` fixture names another moment."""

from datetime import UTC, datetime

# 09:00 in Toronto (the clinic's time zone), on a whole second.
NOW = datetime(2030, 1, 15, 14, 0, tzinfo=UTC)
