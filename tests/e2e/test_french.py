"""In a browser: a keyboard user switches to French, and French pages fit a phone.

French runs about a fifth longer than English; at 360 px nothing may overflow sideways
and no chosen option may be cut off. Screenshots go to test-artifacts/i18n-*.png for a
person to look at. (Rose and her portal come from tests/conftest.py.)
"""

import pytest

from tests.e2e.browser import DESKTOP, PHONE, STEP_TIMEOUT_MS
from tests.factories import TEST_PASSWORD
from tests.i18n.french import ROSE_EMAIL

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Elements that stick out to the right of the page (a table scrolling in its own box
# does not count).
OVERFLOWING = """() => {
    const width = document.documentElement.clientWidth + 1;
    return [...document.querySelectorAll('body *')]
        .filter(el => !el.closest('.table-scroll'))
        .filter(el => el.getBoundingClientRect().right > width)
        .map(el => el.tagName + ': ' + (el.textContent || '').trim().slice(0, 40));
}"""
# Options of a drop-down longer than its closed box can show (the arrow takes ~24 px).
CUT_OPTIONS = """e => {
    const c = document.createElement('canvas').getContext('2d');
    const s = getComputedStyle(e);
    c.font = s.font;
    const room = e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight) - 24;
    return [...e.options].map(o => o.text).filter(t => c.measureText(t).width > room);
}"""


def _fits(page, name):
    overflow = page.evaluate(OVERFLOWING)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] and not overflow, f"{name} overflows at 360 px: {overflow[:5]}"


def _reads_in_full(select):
    """Every option of a drop-down reads in full when chosen."""
    cut = select.evaluate(CUT_OPTIONS)
    assert not cut, f"cut off in a closed drop-down at 360 px: {cut}"


def test_a_keyboard_user_switches_to_french_and_the_pages_fit_a_phone(
    browser, clinic_url, screenshot, request
):
    rows = request.getfixturevalue("roses_portal")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    page.goto(clinic_url("demo", "/portal/sign-in/password/"))
    assert page.locator("html").get_attribute("lang") == "en"
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('lang')") == "fr":
            break
    focused = page.evaluate("[document.activeElement.tagName, document.activeElement.textContent]")
    assert focused == ["BUTTON", "Français"]
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == clinic_url("demo", "/portal/sign-in/password/")
    assert page.locator("html").get_attribute("lang") == "fr"
    screenshot(page, "i18n-fr-sign-in-password-360")
    _fits(page, "sign-in")

    page.goto(clinic_url("demo", "/portal/"))
    page.get_by_role("heading", name="Identification").wait_for()
    screenshot(page, "i18n-fr-identification-360")
    _fits(page, "identification")
    _reads_in_full(page.get_by_label("Type de pièce d'identité"))
    page.get_by_role("link", name="Connectez-vous avec votre courriel").click()
    page.get_by_label("Courriel ou téléphone").fill(ROSE_EMAIL)
    page.get_by_label("Mot de passe").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Connexion").click()
    page.get_by_role("heading", name="Bonjour Rose").wait_for()
    screenshot(page, "i18n-fr-home-360")
    _fits(page, "home")

    for name, path in [
        ("appointments", "/portal/appointments/"),
        ("booking", "/portal/appointments/book/"),
        ("messages", "/portal/messages/"),
        ("conversation", f"/portal/messages/{rows['thread'].pk}/"),
        ("my-information", "/portal/my-information/"),
        ("asking-for-a-change", "/portal/my-information/change/"),
        ("account", "/portal/account/"),
        ("activity", "/portal/account/activity/"),
    ]:
        page.goto(clinic_url("demo", path))
        assert page.locator("html").get_attribute("lang") == "fr", name
        screenshot(page, f"i18n-fr-{name}-360")
        _fits(page, name)
        if name == "my-information":
            # The pending request's three columns fit a phone (English ones do).
            pending = page.locator(".request .table-scroll").first
            assert pending.evaluate("e => e.scrollWidth <= e.clientWidth"), "request scrolls"
            _reads_in_full(page.locator("select").first)

    page.set_viewport_size(DESKTOP)
    page.goto(clinic_url("demo", "/portal/"))
    screenshot(page, "i18n-fr-home-1280")
    context.close()
