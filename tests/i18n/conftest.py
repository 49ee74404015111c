"""The French tests' clock. Rose, her portal and the switch: tests/conftest.py and
tests/i18n/french.py."""

import datetime as dt

import pytest


@pytest.fixture
def now():
    """Pages show dates: ``frozen`` keeps them away from a weekend or a month end."""
    return dt.datetime(2030, 3, 4, 8, 0, tzinfo=dt.UTC)
