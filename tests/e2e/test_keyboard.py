"""A person who uses only a keyboard signs in: Tab, Shift+Tab, Space, Enter and typing.

No clicks and no filling fields through locators: every key goes through page.keyboard.
Along the way, focus is always visible and moves down the page in reading order, the skip
link jumps to the main content, and an error is tied to its field.
"""

import re

import pytest

from portal.notifications import sms
from tests.e2e.browser import DESKTOP, PHONE, STEP_TIMEOUT_MS
from tests.factories import ClinicFactory, PatientFactory, PatientIdentifierFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2
    && style.outlineColor !== "rgba(0, 0, 0, 0)";
  const shadow = style.boxShadow !== "none";
  const label = el.labels && el.labels.length ? el.labels[0].innerText : "";
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id,
    name: (el.getAttribute("aria-label") || label || el.innerText || el.value || "").trim(),
    ring: outline || shadow,
    top: box.top + window.scrollY,
    left: box.left + window.scrollX,
    height: box.height,
    onScreen: box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < innerHeight,
  };
}"""


def _arrive(page, heading):
    """The page with this heading has loaded, its script included."""
    page.get_by_role("heading", name=heading).wait_for()
    page.wait_for_load_state()


def _focused(page):
    return page.evaluate(FOCUSED)


def _press(page, key):
    page.keyboard.press(key)
    return _focused(page)


def _assert_visible(focused):
    assert focused["onScreen"], f"focus is off screen: {focused}"
    assert focused["ring"], f"no visible focus ring on {focused}"


def _walk_the_page(page):
    """Tab from the top to the end of the page: every stop visible, in reading order (left
    to right within a row, then down; up only into the next column of a grid); Shift+Tab
    retraces the same stops."""
    page.keyboard.press("Tab")
    stops = [_focused(page)]
    while True:
        focused = _press(page, "Tab")
        if focused["tag"] == "body" or focused == stops[0]:
            break
        stops.append(focused)
        assert len(stops) < 40, "Tab never reaches the end of the page"
    for stop in stops:
        _assert_visible(stop)
    # The skip link shows over the header when focused: order is checked from the next stop.
    for before, after in zip(stops[1:], stops[2:], strict=False):
        same_row = abs(after["top"] - before["top"]) < max(before["height"], after["height"]) / 2
        if same_row:
            assert after["left"] > before["left"], f"focus goes left: {before} → {after}"
        elif after["top"] < before["top"]:
            # Only into the next column of a grid (the home page's cards), never up-left.
            assert after["left"] > before["left"], f"focus goes back up: {before} → {after}"
    # Shift+Tab goes back through the same stops.
    for _ in range(2):  # from past the end (or the wrapped-to first stop) onto the last
        if _press(page, "Shift+Tab") == stops[-1]:
            break
    back = [_focused(page)]
    for _ in stops[1:]:
        back.append(_press(page, "Shift+Tab"))
    assert [s["name"] for s in back] == [s["name"] for s in reversed(stops)]
    return stops


def _skip_to_main(page):
    """From the top of the page (or back on its first stop after a walk): Tab reaches the
    skip link first, Enter on it moves focus to the main content, and the next Tab lands
    inside it."""
    first = _focused(page)
    if first["tag"] == "body":
        first = _press(page, "Tab")
    assert first["name"] == "Skip to main content", first
    _assert_visible(first)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    focused = _press(page, "Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")
    _assert_visible(focused)
    return focused


def _wait_for_focus_on(page, field_id):
    page.wait_for_function("(id) => document.activeElement.id === id", arg=field_id)
    _assert_visible(_focused(page))


def _assert_error_is_tied_to(page, field_id, text):
    """The field is marked invalid and described by its message (or an alert says it)."""
    described = page.evaluate(
        """(id) => {
          const field = document.getElementById(id);
          const ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
          return {
            invalid: field.getAttribute("aria-invalid"),
            description: ids.map((i) => document.getElementById(i)?.innerText || "").join(" "),
            alerts: [...document.querySelectorAll("[role=alert]")].map((a) => a.innerText),
          };
        }""",
        field_id,
    )
    assert described["invalid"] == "true"
    assert text in described["description"] or any(text in a for a in described["alerts"])


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1280", "360"])
def keyboard_page(browser, request):
    context = browser.new_context(viewport=request.param)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_a_keyboard_user_signs_in_with_id_mobile_and_code(keyboard_page, clinic_url):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    olivia = PatientFactory(clinic=clinic, first_name="Olivia", mobile="+16135550111")
    PatientIdentifierFactory(patient=olivia, number="1234567890")
    page = keyboard_page
    keyboard = page.keyboard

    # Identification.
    page.goto(clinic_url("demo"))
    _arrive(page, "Identification")
    stops = _walk_the_page(page)
    names = [s["name"] for s in stops]
    assert names[0] == "Skip to main content"
    assert names.index("Demo Family Clinic") < names.index("ID Type:") < names.index("Apply")
    assert names.index("ID number:") == names.index("ID Type:") + 1
    assert _skip_to_main(page)["id"] == "id_id_type"
    keyboard.type("Provincial")
    assert page.evaluate("document.activeElement.value") == "health-card"
    assert _press(page, "Tab")["id"] == "id_id_number"
    keyboard.press("Enter")  # nothing typed yet
    page.get_by_text("This field is required.").wait_for()
    # The page comes back with focus on the field in error.
    _wait_for_focus_on(page, "id_id_number")
    _assert_error_is_tied_to(page, "id_id_number", "This field is required.")
    keyboard.type("1234 567 890")
    apply = _press(page, "Tab")
    assert apply["name"] == "Apply"
    _assert_visible(apply)
    keyboard.press("Enter")

    # Email or Phone: the radio group, then the contact.
    _arrive(page, "Email or Phone")
    _walk_the_page(page)
    mobile = _skip_to_main(page)
    assert mobile["id"] == "id_contact_type_0" and mobile["name"] == "Mobile"
    keyboard.press("Space")
    assert page.evaluate("document.activeElement.checked")
    assert _press(page, "Tab")["id"] == "id_contact"
    keyboard.type("613 555 0111")
    keyboard.press("Tab")
    keyboard.press("Space")  # Apply

    # Check your details: Next sends the code.
    _arrive(page, "Check your details")
    _walk_the_page(page)
    next_button = _skip_to_main(page)
    assert next_button["name"] == "Next"
    keyboard.press("Enter")

    # One time passcode: a wrong code first, then the right one.
    _arrive(page, "One time passcode")
    stops = _walk_the_page(page)
    names = [s["name"] for s in stops]
    assert names.index("One time passcode:") < names.index("Login") < names.index("Send a new code")
    assert _skip_to_main(page)["id"] == "id_code"
    keyboard.type("000000")
    keyboard.press("Enter")
    page.get_by_text("That code is not right.").wait_for()
    _wait_for_focus_on(page, "id_code")
    _assert_error_is_tied_to(page, "id_code", "That code is not right.")
    code = re.search(r"\b(\d{6})\b", sms.outbox[-1].body).group(1)
    keyboard.press("Control+A")
    keyboard.type(code)
    keyboard.press("Enter")

    _arrive(page, "Hello, Olivia")
    stops = _walk_the_page(page)
    names = [s["name"] for s in stops]
    assert names.index("Home") < names.index("Sign out") < names.index("Read and send messages")
