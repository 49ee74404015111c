"""Browser tests: Playwright driving Debian's Chromium against a live server.

Clinics are reached at ``http://<slug>.localhost:<port>/`` (Chromium resolves every
``*.localhost`` name to loopback). Without a Chromium binary these tests are skipped
with a loud reason, unless PORTAL_REQUIRE_BROWSER is set (as in CI), where a missing
browser is a failure.
"""

import os
from pathlib import Path

import pytest

from tests.e2e.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    NOW,
    PHONE,
    STEP_TIMEOUT_MS,
)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        reason = f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("PORTAL_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Playwright's sync API runs an event loop in this thread; the test's own database
    # access from that thread is deliberate.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def now():
    """Where ``frozen`` (tests/conftest.py) stops the clock, the live server's too (it runs
    in a thread of this process): free times, the cancellation cutoff and a child's age are
    the same whenever the test runs."""
    return NOW


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def clinic_url(live_server, settings):
    settings.ALLOWED_HOSTS = [".localhost", "localhost"]
    port = live_server.thread.port
    settings.PORTAL_LINK_PORT = str(port)

    def make(slug, path="/portal/"):
        return f"http://{slug}.localhost:{port}{path}"

    return make


@pytest.fixture
def screenshot():
    """Save a full-page PNG under test-artifacts/ for a person to look at."""

    def take(page, name):
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
