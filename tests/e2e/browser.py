"""The browser the e2e tests drive, its window sizes, the moment their clock shows, and
what a person does in it before the part a test is about (signing in).

Clinics are reached at ``http://<slug>.localhost:<port>/`` (Chromium resolves every
``*.localhost`` name to loopback). The fixtures that use these are in
tests/e2e/conftest.py.
"""

import datetime as dt
import os
import shutil
import zoneinfo
from pathlib import Path

from tests.clients import portal_client
from tests.factories import TEST_PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
# A Monday, 8:00 in Toronto (the clinics' time zone), before opening: tomorrow's first
# visit is more than a day away, so the portal still lets the patient cancel it.
NOW = dt.datetime(2030, 1, 14, 8, 0, tzinfo=zoneinfo.ZoneInfo("America/Toronto"))


def admin_sign_in(page, url, username):
    """Open ``url`` and sign in to the admin on the login page it leads to."""
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def portal_session_in(context, url, user, patient=None):
    """The browser context holds a portal session for ``user`` (acting for ``patient``),
    as after sign-in, for the site at ``url``."""
    session = portal_client(user, patient).cookies["sessionid"].value
    context.add_cookies([{"name": "sessionid", "value": session, "url": url}])


# How long a step may wait for the page: generous, because a busy two-core machine (CI
# runs the suite twice, with Chromium and the live server on the same cores) can take
# seconds to hash a password; a step that never comes still fails.
STEP_TIMEOUT_MS = 20_000
