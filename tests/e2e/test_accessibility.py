"""Every portal page a person can reach, checked by axe-core in Chromium at 1280 px and
360 px: no "serious" or "critical" violation of WCAG 2.x A/AA or axe's best practices,
and no sideways scrolling on a phone. The main pages are saved as screenshots under
test-artifacts/ (all of them with PORTAL_A11Y_SCREENSHOTS=1).

axe-core comes from npm (package.json; `make test` runs `npm ci`). Without it these tests
are skipped with a loud reason, unless PORTAL_REQUIRE_BROWSER is set (as in CI).
"""

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from appointments import services as appointment_services
from clinics.admin_site import clinic_admin_site
from clinics.models import PortalTerms
from clinics.terms import terms_publish
from invitations.services import Representative, invitation_send
from messaging.services import thread_start
from patients import demographics
from patients.accounts import reset_token_generator
from patients.locks import subject_for_user
from tests.clients import committed
from tests.clinics.busy_clinic import a_busy_clinic
from tests.e2e.browser import DESKTOP, PHONE, STEP_TIMEOUT_MS, admin_sign_in, portal_session_in
from tests.factories import (
    TEST_PASSWORD,
    AppointmentFactory,
    AppointmentRequestFactory,
    AppointmentTypeFactory,
    ClinicAdminFactory,
    ClinicFactory,
    DiagnosticReportFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientCategoryFactory,
    PatientFactory,
    PatientIdentifierFactory,
    ProviderFactory,
    SignInLockFactory,
    StaffFactory,
    TOTPDeviceFactory,
    UserFactory,
    portal_settings_of,
)
from tests.patients.flows import last_code

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}
BLOCKING = {"serious", "critical"}
RUN_AXE = """async (options) => {
  const results = await axe.run(document, options);
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""
WIDTHS = (("1280", DESKTOP), ("360", PHONE))
NEXT_FRAMES = (
    "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
)
# PORTAL_A11Y_SCREENSHOTS=1 saves every checked page at both widths, not only the main ones.
EVERY_SCREENSHOT = bool(os.environ.get("PORTAL_A11Y_SCREENSHOTS"))
NEW_PASSWORD = re.compile(r"^New password:?$")


@pytest.fixture(scope="session")
def axe_js():
    if not AXE_JS.exists():
        reason = (
            f"ACCESSIBILITY TESTS SKIPPED: no axe-core at {AXE_JS} "
            "(install Node.js and npm, then `make test` runs `npm ci`)"
        )
        if os.environ.get("PORTAL_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE_JS


class Audit:
    """Run axe on the page in front of it at both widths; collect what blocks."""

    def __init__(self, page, screenshot):
        self.page = page
        self.screenshot = screenshot
        self.problems = []
        self.checked = []

    def __call__(self, name, *, shoot=False):
        page = self.page
        page.wait_for_load_state()
        for width, size in WIDTHS:
            page.set_viewport_size(size)
            page.evaluate(NEXT_FRAMES)  # the page's resize handlers have run
            # The site sends a Content-Security-Policy; the context bypasses it so the
            # injected script runs (the page itself stays as served).
            if not page.evaluate("() => typeof window.axe === 'object'"):
                page.add_script_tag(path=str(AXE_JS))
            for violation in page.evaluate(RUN_AXE, AXE_OPTIONS):
                if violation["impact"] in BLOCKING:
                    self.problems.append((name, width, violation))
            if size is PHONE:
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                if scroll_width > PHONE["width"]:
                    self.problems.append((name, width, _sideways(scroll_width)))
            if shoot or EVERY_SCREENSHOT:
                self.screenshot(page, f"a11y-{name}-{width}")
        page.set_viewport_size(DESKTOP)
        self.checked.append(name)

    def assert_clean(self):
        assert self.checked, "no page was checked"
        assert not self.problems, _report(self.problems)


def _sideways(scroll_width):
    return {
        "id": "reflow",
        "impact": "serious",
        "help": f"The page is {scroll_width} px wide at 360 px: it scrolls sideways",
        "helpUrl": "https://www.w3.org/WAI/WCAG22/Understanding/reflow.html",
        "nodes": [],
    }


def _report(problems):
    lines = [f"{len(problems)} serious or critical accessibility problem(s):"]
    for name, width, violation in problems:
        lines.append(
            f"- {name} at {width} px: [{violation['impact']}] {violation['id']}: "
            f"{violation['help']} ({violation['helpUrl']})"
        )
        for node in violation["nodes"][:6]:
            summary = " ".join((node["summary"] or "").split())[:240]
            lines.append(f"    {node['target']} :: {summary}")
    return "\n".join(lines)


@pytest.fixture
def axe_page(browser, axe_js):
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def audit(axe_page, screenshot):
    return Audit(axe_page, screenshot)


# --- Data --------------------------------------------------------------------------------


def _clinic(slug="demo", name="Demo Family Clinic", accent_colour="#1d6fa5", **policy):
    """A clinic; each test picks an accent colour, some too light for white text on it."""
    clinic = ClinicFactory(slug=slug, name=name, accent_colour=accent_colour)
    portal_settings_of(clinic, **policy)
    # The clinic's own words as its first version of the terms (as if written before
    # any patient accepted them).
    PortalTerms.objects.for_clinic(clinic).filter(version=1).update(
        text_en="Use the portal for non-urgent matters.\n\nThe clinic answers within two days.",
        text_fr="",
    )
    return clinic


def _bookable(clinic):
    """Dr Amara Osei sees regular visits every day of the week, 9:00–12:00."""
    visit = AppointmentTypeFactory(clinic=clinic, name="Regular visit", duration_minutes=15)
    doctor = ProviderFactory(
        clinic=clinic,
        name="Dr Amara Osei",
        appointment_types=[visit],
        weekly_hours=(dt.time(9), dt.time(12), range(7)),
    )
    return visit, doctor


def _at(days, hour, clinic):
    day = timezone.localdate() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=clinic.tz)


def _signed_in(page, clinic_url, user, patient=None):
    portal_session_in(page.context, clinic_url(user.clinic.slug, "/"), user, patient)


def _identify(page, url, card, mobile):
    """Identification → Email or Phone → check → the code page."""
    page.goto(url)
    page.get_by_label("ID Type").select_option(label="Provincial health card")
    page.get_by_label("ID number").fill(card)
    page.get_by_role("button", name="Apply").click()
    page.get_by_label("Mobile", exact=True).check()
    page.get_by_label("Mobile number or email address").fill(mobile)
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("heading", name="One time passcode").wait_for()


def _enter_code(page):
    page.get_by_label("One time passcode").fill(last_code())
    page.get_by_role("button", name="Login").click()
    page.wait_for_load_state()


# --- Signing in --------------------------------------------------------------------------


def test_the_sign_in_steps_pass_axe(axe_page, audit, clinic_url):
    page = axe_page
    clinic = _clinic(accent_colour="#ffd54f")
    olivia = PatientFactory(clinic=clinic, first_name="Olivia", mobile="+16135550111")
    PatientIdentifierFactory(patient=olivia, number="1234567890")

    page.goto(clinic_url("demo"))
    audit("identification")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("This field is required.").first.wait_for()
    audit("identification-errors")

    page.get_by_label("ID Type").select_option(label="Provincial health card")
    page.get_by_label("ID number").fill("1234567890")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("heading", name="Email or Phone").wait_for()
    audit("contact")
    page.get_by_label("Mobile", exact=True).check()
    page.get_by_label("Mobile number or email address").fill("12")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Enter a mobile number with its area code").wait_for()
    audit("contact-errors")

    page.get_by_label("Mobile number or email address").fill("613 555 0111")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("heading", name="Check your details").wait_for()
    audit("check")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("heading", name="One time passcode").wait_for()
    audit("code", shoot=True)
    page.get_by_label("One time passcode").fill("000000")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("That code is not right.").wait_for()
    audit("code-wrong")

    _enter_code(page)
    page.get_by_role("heading", name="Hello, Olivia").wait_for()
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.get_by_text("You are signed out.").wait_for()
    audit("signed-out")

    # An ID the clinic does not know: register.
    _identify(page, clinic_url("demo"), "9876543210", "613 555 0199")
    _enter_code(page)
    page.get_by_role("heading", name="Register").wait_for()
    audit("register")
    page.get_by_role("button", name="Register").click()
    page.get_by_text("This field is required.").first.wait_for()
    audit("register-errors")

    # A known ID with a contact the chart does not have: staff confirm the identity first.
    _identify(page, clinic_url("demo"), "1234567890", "613 555 0177")
    _enter_code(page)
    page.get_by_role("heading", name="The clinic will confirm your identity").wait_for()
    audit("verification-pending")
    audit.assert_clean()


def test_password_authenticator_reset_and_lock_pages_pass_axe(axe_page, audit, clinic_url):
    page = axe_page
    clinic = _clinic()
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Olivia"))
    TOTPDeviceFactory(user=grant.user)
    locked = PatientAccessFactory(patient=PatientFactory(clinic=clinic)).user
    SignInLockFactory(
        clinic=clinic,
        subject=subject_for_user(locked),
        user=locked,
        failures=10,
        locked_until=timezone.now() + dt.timedelta(minutes=15),
    )

    page.goto(clinic_url("demo", "/portal/sign-in/password/"))
    audit("password-sign-in")
    page.get_by_label("Email or Phone").fill(grant.user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("That email, phone or password is not right.").wait_for()
    audit("password-sign-in-wrong")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("heading", name="Authenticator code").wait_for()
    audit("authenticator-step")
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("That code is not right.").wait_for()
    audit("authenticator-step-wrong")

    page.goto(clinic_url("demo", "/portal/sign-in/password/"))
    page.get_by_label("Email or Phone").fill(locked.email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("heading", name="Sign-in paused").wait_for()
    audit("locked")

    page.goto(clinic_url("demo", "/portal/password-reset/"))
    audit("password-reset")
    page.get_by_label("Email or Phone").fill(grant.user.email)
    page.get_by_role("button", name="Send the link").click()
    page.get_by_text("we sent it a link").wait_for()
    audit("password-reset-sent")
    uid = urlsafe_base64_encode(force_bytes(grant.user.pk))
    token = reset_token_generator.make_token(grant.user)
    page.goto(clinic_url("demo", f"/portal/password-reset/{uid}/{token}/"))
    page.get_by_label("New password again").wait_for()
    audit("password-reset-set")
    page.get_by_label(NEW_PASSWORD).fill("short")
    page.get_by_label("New password again").fill("other")
    page.get_by_role("button", name="Save the password").click()
    page.get_by_text("The two passwords are different.").wait_for()
    audit("password-reset-set-errors")
    page.goto(clinic_url("demo", f"/portal/password-reset/{uid}/not-a-token/"))
    page.get_by_role("heading", name="This link no longer works").wait_for()
    audit("password-reset-invalid")

    _signed_in(page, clinic_url, grant.user, grant.patient)
    page.goto(clinic_url("demo", "/portal/account/authenticator/"))
    page.get_by_role("button", name="Remove the authenticator").wait_for()
    audit("authenticator-removal")
    audit.assert_clean()


def test_pages_that_say_why_the_portal_is_not_there_pass_axe(axe_page, audit, clinic_url):
    page = axe_page
    clinic = _clinic()
    walk_in = PatientCategoryFactory(clinic=clinic, name="Walk-in", portal_eligible=False)
    PatientIdentifierFactory(
        patient=PatientFactory(clinic=clinic, mobile="+16135550122", category=walk_in),
        number="2222222222",
    )
    _clinic("northside", "Northside Health Centre", self_registration_allowed=False)
    _clinic("eastend", "East End Clinic", portal_enabled=False)
    no_grant = UserFactory(clinic=clinic)

    _identify(page, clinic_url("demo"), "2222222222", "613 555 0122")
    _enter_code(page)
    page.get_by_role("heading", name="The portal is not available for you").wait_for()
    audit("ineligible")

    _identify(page, clinic_url("northside"), "3333333333", "613 555 0133")
    _enter_code(page)
    page.get_by_role("heading", name="Registration is by invitation").wait_for()
    audit("registration-closed")

    page.goto(clinic_url("eastend"))
    page.get_by_role("heading", name="The patient portal is not available").wait_for()
    audit("unavailable")

    _signed_in(page, clinic_url, no_grant)
    page.goto(clinic_url("demo"))
    page.get_by_role("heading", name="Your portal access is not active").wait_for()
    audit("no-access")

    page.goto(clinic_url("demo", "/portal/no-such-page/"))
    page.get_by_role("heading", name="Page not found").wait_for()
    audit("not-found")
    page.goto(clinic_url("nowhere"))
    audit("unknown-clinic")
    page.goto(clinic_url("demo").replace("demo.localhost", "localhost").replace("/portal/", "/"))
    page.get_by_role("heading", name="Patient portal").wait_for()
    audit("platform-landing")
    audit.assert_clean()


# --- Signed in ---------------------------------------------------------------------------


def test_a_patients_pages_pass_axe(axe_page, audit, clinic_url, frozen):
    page = axe_page
    clinic = _clinic(accent_colour="#4fc3f7", booking_allowed=True, cancelling_allowed=True)
    visit, doctor = _bookable(clinic)
    grant = PatientAccessFactory(
        patient=PatientFactory(
            clinic=clinic,
            first_name="Olivia",
            last_name="Martin",
            mobile="+16135550111",
            address_line1="10 Main Street",
            city="Ottawa",
        )
    )
    olivia = grant.patient
    grant.user.first_name = "Olivia"
    grant.user.save(update_fields=["first_name"])
    staff = StaffFactory(clinic=clinic, first_name="Carla", last_name="Nurse")
    # A visit she had three weeks ago (written as the clinic's system would have it; no
    # one books a time that has passed), and one she is booked for in three days.
    AppointmentFactory(
        patient=olivia,
        provider=doctor,
        appointment_type=visit,
        start=_at(-20, 10, clinic),
        status="completed",
    )
    appointment_services.appointment_book(
        patient=olivia,
        provider=doctor,
        appointment_type=visit,
        start=_at(3, 11, clinic),
        booked_by=staff,
        by_staff=True,
    )
    thread = thread_start(
        clinic=clinic,
        patient=olivia,
        subject="Your blood test",
        category="general",
        body="Hello Olivia,\nyour results are in. Please book a visit to go over them.",
        author=staff,
    )
    _signed_in(page, clinic_url, grant.user, olivia)

    page.goto(clinic_url("demo"))
    page.get_by_role("heading", name="Hello, Olivia").wait_for()
    audit("home", shoot=True)

    page.goto(clinic_url("demo", "/portal/account/"))
    audit("account")
    page.get_by_role("link", name="Change your password").click()
    audit("account-password")
    page.get_by_label(NEW_PASSWORD).fill("short")
    page.get_by_role("button", name="Save the password").click()
    page.get_by_text("This field is required.").wait_for()
    audit("account-password-errors")
    page.goto(clinic_url("demo", "/portal/account/authenticator/"))
    audit("authenticator-enrolment")
    page.goto(clinic_url("demo", "/portal/account/activity/"))
    audit("activity")

    page.goto(clinic_url("demo", "/portal/my-information/"))
    audit("my-information")
    page.get_by_role("link", name="Ask for a change").click()
    audit("ask-for-a-change")
    # A long email address: the request's table must still fit a phone.
    page.get_by_label("Email").fill("olivia.martin-tremblay.family@example-mail.com")
    page.get_by_role("button", name="Send to the clinic").click()
    page.get_by_role("heading", name="Confirm your new contact").wait_for()
    audit("confirm-contact")
    page.get_by_label("One time passcode").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("That code is not right").wait_for()
    audit("confirm-contact-errors")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    page.get_by_label("One time passcode").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Your request was sent to the clinic.").wait_for()
    audit("my-information-pending-email")
    page.get_by_role("link", name="Ask for a change").click()
    page.get_by_label("Street address").fill("22 Rideau Street")
    page.get_by_label("Date of birth").fill("2999-01-01")
    page.get_by_role("button", name="Send to the clinic").click()
    page.get_by_text("Enter a real date of birth.").wait_for()
    audit("ask-for-a-change-errors")
    page.get_by_label("Date of birth").fill("1980-05-17")
    page.get_by_role("button", name="Send to the clinic").click()
    page.get_by_text("Your request was sent to the clinic.").wait_for()
    audit("my-information-pending", shoot=True)

    page.goto(clinic_url("demo", "/portal/appointments/"))
    audit("appointments")
    page.get_by_role("link", name="Book an appointment").click()
    audit("book")
    page.get_by_role("button", name="Show free times").click()
    page.get_by_role("heading", name=re.compile("^Week of")).wait_for()
    audit("book-slots", shoot=True)
    # Tomorrow's first time: at the frozen 8:00 it is more than the clinic's 24 hours away.
    page.get_by_role("group", name="Tuesday 15 January").locator("button.slot").first.click()
    page.get_by_role("heading", name="Confirm your appointment").wait_for()
    audit("book-confirm")
    page.get_by_role("button", name="Book").click()
    page.get_by_text("This field is required.").wait_for()
    audit("book-confirm-errors")
    page.get_by_label("Reason for visit").fill("Blood pressure check")
    page.get_by_role("button", name="Book").click()
    page.get_by_text("Your appointment is booked.").wait_for()
    audit("appointments-booked")
    # The first free time is tomorrow at 9:00: at the frozen 8:00 it is more than the
    # clinic's 24 hours away, so "Cancel" leads to the cancel page, not the refusal.
    page.get_by_role("link", name="Cancel").first.click()
    page.get_by_role("heading", name="Cancel an appointment").wait_for()
    audit("cancel")

    page.goto(clinic_url("demo", "/portal/messages/"))
    audit("inbox")
    page.goto(clinic_url("demo", f"/portal/messages/{thread.pk}/"))
    audit("thread", shoot=True)
    page.get_by_role("button", name="Send reply").click()
    page.get_by_text("This field is required.").wait_for()
    audit("reply-errors")
    page.get_by_label("Your reply").fill("Thank you!\nI will book for next week.")
    page.get_by_role("button", name="Send reply").click()
    page.get_by_text("Message sent.").wait_for()
    audit("reply-sent")
    page.goto(clinic_url("demo", "/portal/messages/new/"))
    audit("new-message")
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_text("This field is required.").first.wait_for()
    audit("new-message-errors")
    audit.assert_clean()


def test_a_representatives_pages_pass_axe(axe_page, audit, clinic_url, frozen):
    page = axe_page
    clinic = _clinic(accent_colour="#e91e63", booking_allowed=False, patient_messages_allowed=False)
    parent = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Noah", last_name="Roy")
    ).user
    # Emma and Liam are 11 at the frozen NOW: a parent's access ends when a child turns 16.
    for first_name, limited in (("Emma", False), ("Liam", True)):
        PatientAccessFactory(
            user=parent,
            patient=PatientFactory(
                clinic=clinic,
                first_name=first_name,
                last_name="Roy",
                date_of_birth=dt.date(2018, 3, 1),
            ),
            relationship="parent",
            can_appointments=not limited,
            can_messages=not limited,
        )
    _signed_in(page, clinic_url, parent)

    page.goto(clinic_url("demo"))
    page.get_by_role("heading", name="People you can act for").wait_for()
    audit("home-representative", shoot=True)
    page.get_by_role("button", name="Switch to Emma Roy").click()
    page.get_by_text("You are now acting for Emma Roy.").wait_for()
    audit("home-acting-for")
    page.goto(clinic_url("demo", "/portal/appointments/book/"))
    audit("booking-refused")
    page.goto(clinic_url("demo", "/portal/messages/new/"))
    audit("messages-not-allowed")
    page.goto(clinic_url("demo"))
    page.get_by_role("button", name="Switch to Liam Roy").click()
    page.goto(clinic_url("demo", "/portal/appointments/"))
    page.get_by_role("heading", name="Not part of your access").wait_for()
    audit("out-of-scope")
    audit.assert_clean()


def test_the_record_copy_passes_axe_on_screen_and_on_paper(axe_page, audit, clinic_url, frozen):
    """The summary of the chart, and the same page as printed: on paper the portal's
    header links, language switch and footer are gone, the record is all there; the
    Account page's link downloads the Bundle as a file."""
    page = axe_page
    clinic = _clinic(accent_colour="#2e7d32")
    visit, doctor = _bookable(clinic)
    grant = PatientAccessFactory(
        patient=PatientFactory(
            clinic=clinic, first_name="Olivia", last_name="Martin", address_line1="10 Main Street"
        )
    )
    olivia = grant.patient
    staff = StaffFactory(clinic=clinic, first_name="Carla", last_name="Nurse")
    for days, status in ((-20, "completed"), (3, "booked"), (10, "cancelled")):
        AppointmentFactory(
            patient=olivia,
            provider=doctor,
            appointment_type=visit,
            start=_at(days, 10, clinic),
            status=status,
            reason="A long-standing pain in the left knee after a fall on the ice",
        )
    thread_start(
        clinic=clinic,
        patient=olivia,
        subject="Your blood test",
        category="general",
        body="Hello Olivia,\nyour results are in: all-within-the-usual-ranges-nothing-to-do.",
        author=staff,
    )
    demographics.change_request_create(
        request=None,
        patient=olivia,
        requested_by=grant.user,
        proposed={"email": "olivia.martin-tremblay.family@example-mail.com"},
    )
    AppointmentRequestFactory(patient=olivia, appointment_type=visit, note="Mornings, please")
    PatientAccessFactory(
        patient=olivia,
        user=UserFactory(clinic=clinic, first_name="Rowena", last_name="Martin"),
        relationship="spouse",
        can_messages=False,
    )
    _signed_in(page, clinic_url, grant.user, olivia)

    page.goto(clinic_url("demo", "/portal/account/"))
    with page.expect_download() as download:
        page.get_by_role("link", name="Download my record (FHIR file, JSON)").click()
    assert download.value.suggested_filename == f"record-{timezone.localdate().isoformat()}.json"
    page.get_by_role("link", name="Read or print a summary").click()
    page.get_by_role("heading", name="Your record").wait_for()
    audit("record", shoot=True)

    page.emulate_media(media="print")
    for hidden in (page.get_by_role("navigation", name="Account"), page.locator(".site-footer")):
        assert not hidden.is_visible()
    assert page.get_by_role("heading", name="People who act for you").is_visible()
    audit("record-print", shoot=True)
    page.emulate_media(media="screen")
    audit.assert_clean()


def test_the_results_page_passes_axe(axe_page, audit, clinic_url, frozen):
    """Results grouped by report, flags in words, a trend chart with its table opened;
    the preference saved; and the empty page."""
    page = axe_page
    clinic = _clinic(accent_colour="#6a1b9a")
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic))
    olivia = grant.patient
    now = timezone.now()
    panel = DiagnosticReportFactory(
        patient=olivia,
        display="Comprehensive metabolic panel",
        date=now - dt.timedelta(days=1),
        performer="Eastside Laboratories",
        conclusion="Potassium high; repeat in a week.",
    )
    for display, code, value, flag in (
        ("Potassium", "2823-3", 6.4, "HH"),
        ("Sodium", "2951-2", 139, "N"),
        ("Creatinine in serum or plasma (estimated)", "2160-0", 130, "H"),
    ):
        ObservationFactory(
            patient=olivia,
            report=panel,
            display=display,
            code=code,
            value_quantity=value,
            interpretation=flag,
            date=now - dt.timedelta(days=1),
        )
    for days in range(2, 80, 4):
        ObservationFactory(
            patient=olivia,
            display="Glucose",
            code="2345-7",
            value_quantity=4 + days % 5,
            interpretation="H" if days % 5 > 2 else "N",
            date=now - dt.timedelta(days=days),
        )
    # A visit's readings, alone and on one day: one group under the day.
    for hours, (display, code, value, unit) in enumerate(
        (("Body weight", "29463-7", 71, "kg"), ("Heart rate", "8867-4", 64, "/min"))
    ):
        ObservationFactory(
            patient=olivia,
            display=display,
            code=code,
            value_quantity=value,
            value_unit=unit,
            range_low=None,
            range_high=None,
            interpretation="",
            date=now - dt.timedelta(days=3, hours=hours),
        )
    _signed_in(page, clinic_url, grant.user, olivia)

    page.goto(clinic_url("demo", "/portal/"))
    page.get_by_role("link", name="Health record", exact=True).click()
    page.get_by_role("heading", name="Results", exact=True).wait_for()
    page.get_by_text("Glucose: the values over time").click()
    audit("results", shoot=True)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Older").click()
    page.get_by_text("Page 2 of 2").wait_for()
    audit("results-page-2", shoot=True)
    page.get_by_role("link", name="Newer").click()
    page.get_by_label("Wait for my clinician's review before showing new results").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("New results will show once your clinician has reviewed them").wait_for()
    audit("results-preference-saved")

    other = PatientAccessFactory(patient=PatientFactory(clinic=olivia.clinic))
    _signed_in(page, clinic_url, other.user, other.patient)
    page.goto(clinic_url("demo", "/portal/health-record/results/"))
    audit("results-empty", shoot=True)
    audit.assert_clean()


# --- Invitations -------------------------------------------------------------------------


def test_the_earlier_time_pages_pass_axe(axe_page, audit, clinic_url, frozen):
    page = axe_page
    clinic = _clinic(booking_allowed=True, cancelling_allowed=True, earlier_offers_enabled=True)
    visit, doctor = _bookable(clinic)
    olivia = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Olivia", email="olivia@example.com")
    )
    later = AppointmentFactory(
        patient=olivia.patient, provider=doctor, appointment_type=visit, start=_at(4, 10, clinic)
    )
    freed = AppointmentFactory(
        patient=PatientFactory(clinic=clinic),
        provider=doctor,
        appointment_type=visit,
        start=_at(2, 9, clinic),
    )
    _signed_in(page, clinic_url, olivia.user, olivia.patient)
    page.goto(clinic_url("demo", f"/portal/appointments/{later.pk}/earlier/"))
    audit("earlier-ask")
    page.get_by_role("button", name="Offer me an earlier time if one frees up").click()
    page.get_by_text("You will be offered an earlier time if one frees up.").first.wait_for()
    audit("appointments-waiting-for-earlier")
    committed(
        appointment_services.appointment_cancel,
        appointment=freed,
        cancelled_by=None,
        by_staff=True,
    )
    [offer] = [m for m in mail.outbox if m.to == ["olivia@example.com"] and "earlier" in m.subject]
    link = re.search(r"http://\S+/portal/appointments/offer/[^/\s]+/", offer.body)
    page.goto(link.group(0))
    page.get_by_role("heading", name="An earlier time").wait_for()
    audit("earlier-offer", shoot=True)
    frozen.shift(dt.timedelta(days=1))
    # A day on, the session has ended too (how it ends depends on the session store):
    # the link is opened signed out, as from the email the next day.
    page.context.clear_cookies()
    page.goto(link.group(0))
    page.get_by_text("This offer has expired.").wait_for()
    audit("earlier-offer-expired")
    audit.assert_clean()


def _invitation_link(patient, staff, **extra):
    invitation_send(patient=patient, channel="email", sent_by=staff, **extra)
    return re.search(r"http://\S+/portal/invitation/\S+/", mail.outbox[-1].body).group(0)


def test_the_invitation_pages_pass_axe(axe_page, audit, clinic_url):
    page = axe_page
    clinic = _clinic(accent_colour="#7cb342")
    staff = StaffFactory(clinic=clinic)
    maria = PatientFactory(
        clinic=clinic, first_name="Maria", date_of_birth=dt.date(1961, 4, 9), email="m@example.com"
    )
    registered = PatientAccessFactory(patient=PatientFactory(clinic=clinic, email="r@example.com"))
    clinic_url("demo")  # the live server and its link port

    page.goto(_invitation_link(maria, staff))
    page.get_by_role("heading", name="Activate portal").wait_for()
    audit("invitation-date-of-birth")
    page.get_by_label("Date of birth").fill("1961-04-10")
    page.get_by_role("button", name="Next").click()
    page.get_by_text("does not match").wait_for()
    audit("invitation-date-of-birth-wrong")
    page.get_by_label("Date of birth").fill("1961-04-09")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("I accept the clinic's portal terms").wait_for()
    audit("invitation-accept")
    page.get_by_role("button", name="Activate portal").click()
    page.get_by_text("This field is required.").first.wait_for()
    audit("invitation-accept-errors")

    page.goto(_invitation_link(registered.patient, staff))
    page.get_by_label("Date of birth").fill("1980-05-17")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("heading", name="Sign in to add this access").wait_for()
    audit("invitation-sign-in-first")

    page.goto(clinic_url("demo", "/portal/invitation/not-a-real-token/"))
    page.get_by_role("heading", name="This invitation link no longer works").wait_for()
    audit("invitation-unusable")

    # The invitation went to a contact a staff account uses.
    page.goto(_invitation_link(PatientFactory(clinic=clinic, email=staff.email), staff))
    page.get_by_label("Date of birth").fill("1980-05-17")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("heading", name="This contact is already in use").wait_for()
    audit("invitation-contact-in-use")

    # Signed in: the invitation adds access to this account, or belongs to another one.
    child = PatientFactory(clinic=clinic, first_name="Lea", date_of_birth=dt.date(2019, 6, 1))
    for_parent = Representative(
        name="Rosa", relationship="parent", destination=registered.user.email
    )
    _signed_in(page, clinic_url, registered.user, registered.patient)
    page.goto(_invitation_link(child, staff, representative=for_parent))
    page.get_by_label("Date of birth").fill("2019-06-01")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("I accept the clinic's portal terms").wait_for()
    audit("invitation-add-access")
    _signed_in(page, clinic_url, UserFactory(clinic=clinic))
    page.goto(_invitation_link(child, staff, representative=for_parent))
    page.get_by_label("Date of birth").fill("2019-06-01")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("heading", name="This invitation is for another account").wait_for()
    audit("invitation-other-account")
    audit.assert_clean()


def test_the_staff_sign_in_two_factor_and_history_pages_pass_axe(
    axe_page, audit, clinic_url, settings
):
    """The admin's pages are Django's own; these are the ones the portal adds to it."""
    page = axe_page
    settings.PORTAL_STAFF_OTP_REQUIRED = True
    clinic = _clinic()
    StaffFactory(clinic=clinic, username="frontdesk")

    page.goto(clinic_url("demo", "/admin/"))
    page.get_by_label("Username").fill("frontdesk")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Please enter a correct username and password").wait_for()
    audit("staff-sign-in-refused")

    page.get_by_label("Username").fill("frontdesk")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Set up your authenticator app").wait_for()
    audit("staff-two-factor-setup", shoot=True)

    page.get_by_label("Code from the app").fill(
        f"{TOTP(TOTPDevice.objects.get(confirmed=False).bin_key).token():06d}"
    )
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Your backup codes").wait_for()
    audit("staff-backup-codes")

    page.get_by_role("link", name="Done").click()
    page.get_by_role("heading", name="Your sign-in").wait_for()
    audit("staff-security")
    page.get_by_role("link", name="Change my password").click()
    audit("staff-password")

    chart = PatientFactory(clinic=clinic, city="Ottawa")
    chart.city = "Gatineau"
    chart.save(update_fields=["city"])
    page.goto(clinic_url("demo", f"/admin/patients/patient/{chart.pk}/history/"))
    page.get_by_text("Gatineau").wait_for()
    audit("chart-history", shoot=True)

    _bookable(clinic)
    page.goto(clinic_url("demo", f"/admin/patients/patient/{chart.pk}/change/"))
    page.get_by_role("link", name="Book a visit").click()
    page.get_by_role("link", name="Next day").wait_for()
    audit("providers-day", shoot=True)
    audit.assert_clean()


def test_the_appointment_request_and_calendar_pages_pass_axe(axe_page, audit, clinic_url, frozen):
    page = axe_page
    clinic = _clinic(booking_allowed=False, appointment_requests=True)
    _bookable(clinic)
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Olivia"))
    _signed_in(page, clinic_url, grant.user, grant.patient)
    page.goto(clinic_url("demo", "/portal/appointments/request/"))
    audit("appointment-request", shoot=True)
    page.get_by_label("Provider").select_option(label="Dr Amara Osei")
    page.get_by_label("Wednesday").check()
    page.get_by_role("button", name="Send the request").click()
    page.get_by_text("Your request is sent.").wait_for()
    audit("appointments-with-requests", shoot=True)
    page.get_by_role("link", name="Get a private calendar address").click()
    page.get_by_role("button", name="Make my calendar address").click()
    page.get_by_text("Your calendar address (shown only now):").wait_for()
    audit("calendar-feed", shoot=True)

    StaffFactory(clinic=clinic, username="frontdesk")
    staff_page = page.context.browser.new_context(viewport=DESKTOP, bypass_csp=True).new_page()
    staff_audit = Audit(staff_page, audit.screenshot)
    staff_page.goto(clinic_url("demo", "/admin/appointments/appointmentrequest/"))
    staff_page.get_by_label("Username").fill("frontdesk")
    staff_page.get_by_label("Password").fill(TEST_PASSWORD)
    staff_page.get_by_role("button", name="Log in").click()
    staff_page.locator("#result_list tbody th a").first.click()
    staff_page.get_by_role("heading", name="Book a time").wait_for()
    staff_audit("admin-appointment-request", shoot=True)
    staff_page.context.close()
    audit.assert_clean()
    staff_audit.assert_clean()


def test_the_idle_warning_terms_recovery_codes_and_account_pages_pass_axe(
    axe_page, audit, clinic_url, frozen
):
    """The idle warning (its timer run forward in the browser), the terms page and the
    new-terms step, the recovery codes shown once, the account and its activity."""
    from portal.audit.services import audit_record

    page = axe_page
    clinic = _clinic(idle_timeout_minutes=5)
    grant = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Rosa", last_name="Quintero")
    )
    rosa = grant.user
    TOTPDeviceFactory(user=rosa)
    for _ in range(8):
        audit_record(action="message.read", clinic=clinic, actor=rosa, acting_for=grant.patient)
    audit_record(action="signin.failed", clinic=clinic, actor=rosa, details={"method": "passcode"})
    _signed_in(page, clinic_url, rosa, grant.patient)

    page.clock.install()
    page.goto(clinic_url(clinic.slug, "/portal/account/"))
    page.clock.fast_forward(181_000)  # 5 minutes' limit, warned 2 minutes before
    warning = page.get_by_role("dialog", name="Are you still there?")
    warning.wait_for()
    assert warning.get_by_role("button", name="Stay signed in").is_visible()
    audit("idle-warning", shoot=True)
    warning.get_by_role("button", name="Stay signed in").click()
    page.get_by_role("status").filter(has_text="You are still signed in.").wait_for(
        state="attached"
    )
    assert not warning.is_visible()

    page.goto(clinic_url(clinic.slug, "/portal/account/"))
    audit("account", shoot=True)
    page.goto(clinic_url(clinic.slug, "/portal/account/activity/"))
    assert "×8" in page.content()
    audit("account-activity", shoot=True)

    page.goto(clinic_url(clinic.slug, "/portal/account/recovery-codes/"))
    page.get_by_role("button", name="Make new recovery codes").click()
    page.get_by_role("list", name="Your recovery codes").wait_for()
    audit("recovery-codes", shoot=True)

    page.goto(clinic_url(clinic.slug, "/portal/terms/"))
    audit("terms", shoot=True)
    terms_publish(clinic=clinic, text_en="Version two: the clinic answers within one day.")
    page.goto(clinic_url(clinic.slug, "/portal/account/"))
    page.get_by_role("heading", name="New portal terms").wait_for()
    audit("terms-accept", shoot=True)


def test_the_patient_requests_decision_pages_pass_axe(axe_page, audit, clinic_url):
    """The decision screen of a change and of a new registration (its typed ID, the likely
    duplicate charts, "Link to this chart instead" and its confirmation), at both widths."""
    page = axe_page
    clinic = _clinic()
    StaffFactory(clinic=clinic, username="frontdesk")
    olivia = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Olivia", city="Ottawa")
    )
    change = demographics.change_request_create(
        request=None,
        patient=olivia.patient,
        requested_by=olivia.user,
        proposed={"city": "Gatineau", "mobile": "+16135550150"},
    )
    old_chart = PatientFactory(
        clinic=clinic,
        first_name="Amara",
        last_name="Nwosu",
        date_of_birth=dt.date(1990, 7, 4),
        mobile="+16135550142",
    )
    PatientFactory(
        clinic=clinic, first_name="Amara", last_name="Nwosu", date_of_birth=dt.date(1990, 7, 4)
    )
    new_chart = PatientFactory(
        clinic=clinic,
        first_name="Amara",
        last_name="Nwosu",
        date_of_birth=dt.date(1990, 7, 4),
        mobile="+16135550142",
        status="pending",
        self_registered=True,
    )
    PatientIdentifierFactory(patient=new_chart, number="1234567890")
    account = UserFactory(clinic=clinic, username="amara", phone="+16135550142", email="")
    PatientAccessFactory(user=account, patient=new_chart)
    registration = demographics.registration_request_create(
        patient=new_chart, requested_by=account, unproven={"email": "amara@example.com"}
    )

    admin_sign_in(
        page, clinic_url("demo", f"/admin/patients/changerequest/{change.pk}/change/"), "frontdesk"
    )
    page.get_by_label("Reason for declining").fill("Please bring a bill with the new address.")
    audit("patient-request-change", shoot=True)

    page.goto(clinic_url("demo", f"/admin/patients/changerequest/{registration.pk}/change/"))
    page.get_by_role("heading", name="Possible duplicate charts").wait_for()
    assert "1234567890" in page.content()
    audit("patient-request-registration", shoot=True)
    page.get_by_role("link", name="Link to this chart instead").click()
    page.get_by_role("button", name="Confirm: link to this chart").wait_for()
    audit("patient-request-link-confirm", shoot=True)
    page.get_by_role("button", name="Confirm: link to this chart").click()
    page.get_by_text("The registration is linked to").wait_for()
    registration.refresh_from_db()
    assert registration.linked_chart == old_chart


def test_the_clinic_admins_work_screen_and_every_list_pass_axe(axe_page, audit, clinic_url):
    """The index is the front desk's work screen; each list of the clinic admin, with a
    row of every kind, is read at 1280 px and on a phone (screenshots of each)."""
    page = axe_page
    clinic = _clinic()
    staff = ClinicAdminFactory(clinic=clinic, username="clinicadmin")
    a_busy_clinic(clinic, staff)
    admin_sign_in(page, clinic_url("demo", "/admin/"), "clinicadmin")
    page.get_by_role("heading", name="Waiting for you").wait_for()
    audit("admin-work-screen", shoot=True)
    for model in clinic_admin_site._registry:
        opts = model._meta
        page.goto(clinic_url("demo", f"/admin/{opts.app_label}/{opts.model_name}/"))
        audit(f"admin-list-{opts.app_label}-{opts.model_name}", shoot=True)
    audit.assert_clean()


def test_the_chart_import_pages_pass_axe(axe_page, audit, clinic_url):
    """Import charts (CSV): the page with its column guide, a refused file, and the
    preview with a row of every outcome, at both widths."""
    page = axe_page
    clinic = _clinic()
    ClinicAdminFactory(clinic=clinic, username="clinicadmin")
    namesake = PatientFactory(
        clinic=clinic, first_name="Jonas", last_name="Lévesque", date_of_birth=dt.date(1975, 1, 31)
    )
    PatientIdentifierFactory(patient=namesake, number="5550001111")
    PatientIdentifierFactory(patient=PatientFactory(clinic=clinic), number="5550002222")
    admin_sign_in(page, clinic_url("demo", "/admin/patients/patient/"), "clinicadmin")
    page.get_by_role("link", name="Import charts (CSV)").click()
    page.get_by_role("heading", name="The file's columns").wait_for()
    audit("chart-import", shoot=True)

    page.get_by_label("CSV file").set_input_files(
        {"name": "charts.csv", "mimeType": "text/csv", "buffer": b"name,born\nAmara,1990\n"}
    )
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("Unknown columns").wait_for()
    audit("chart-import-refused")

    rows = "\n".join(
        [
            "first_name,last_name,date_of_birth,sex,id_type,id_number,email,mobile",
            "Amara,Nwosu,1990-07-04,F,health-card,1234 567 890,amara@example.com,613 555 0142",
            "Jonas,Lévesque,1975-01-31,M,health-card,2345678901,,",
            "Sam,Roy,14/03/1958,,ssn,,not-an-email,555",
            "Lena,Quick,1988-02-02,F,health-card,555-000-2222,,",
        ]
    )
    page.get_by_label("CSV file").set_input_files(
        {"name": "charts.csv", "mimeType": "text/csv", "buffer": rows.encode()}
    )
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Import 2 charts").wait_for()
    audit("chart-import-preview", shoot=True)
    page.get_by_role("button", name="Import 2 charts").click()
    page.get_by_text("2 charts imported").wait_for()
    audit.assert_clean()
