"""No page, admin list or detail, email or text message shows a raw E.164 phone number.

Every number is written as the clinic's country writes it: national at home
("(613) 555-0142"), international for another country ("+44 20 7946 0958"); the one
filter is ``|phone`` (portal.core.phones). The sweep puts numbers in every phone column
the world has (the chart's mobile, home and emergency phones, the account's mobile, an
SMS invitation, an identity confirmation, a text message in the outbox, a change request
for a new mobile, the clinic's own phone) and opens every page of the portal and the
clinic admin a GET can open (new views join automatically), as the patient and as staff,
a view-only colleague included; then it renders the emails and texts that show a number.
A raw "+16135550142" anywhere but a ``tel:`` link fails it.

A template check keeps new templates on the filter: a variable named like a phone
(``phone``, ``mobile``, ``destination``, ``recipient``) is shown through ``|phone``.
"""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from clinics.models import Clinic
from invitations.models import Invitation
from patients import demographics
from patients.models import Patient, VerificationRequest
from portal.notifications.models import Notification
from portal.notifications.rendering import render_notification
from portal.notifications.services import notify
from tests.clients import portal_client, staff_client
from tests.factories import StaffFactory
from tests.security import sweep

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
RAW_E164 = re.compile(r"\+\d{8,15}\b")
TEL_LINK = re.compile(r"""href=["']tel:[^"']*["']""")

NUMBERS = {
    "mobile": "+16135550142",
    "home": "+16135550143",
    "emergency": "+16135550144",
    "account": "+16135550145",
    "invitation": "+16135550146",
    "verification": "+16135550147",
    "outbox": "+16135550148",
    "asked": "+16135550149",
    "clinic": "+16135550100",
    "abroad": "+442079460958",
}


def raw_numbers(text: str) -> list[str]:
    return RAW_E164.findall(TEL_LINK.sub("", text))


@pytest.fixture
def phoned(world):
    clinic, victim, user = world.clinic, world.victim, world.victim_user
    Clinic.objects.filter(pk=clinic.pk).update(phone=NUMBERS["clinic"])
    Patient.objects.filter(pk=victim.pk).update(
        mobile=NUMBERS["mobile"],
        home_phone=NUMBERS["home"],
        emergency_contact_phone=NUMBERS["abroad"],
    )
    victim.refresh_from_db()
    user.phone = NUMBERS["account"]
    user.save(update_fields=["phone"])
    Invitation.objects.filter(pk=world.rows["invitations.invitation"].pk).update(
        channel="sms", destination=NUMBERS["invitation"]
    )
    VerificationRequest.objects.filter(pk=world.rows["patients.verificationrequest"].pk).update(
        channel="sms", destination=NUMBERS["verification"]
    )
    notify(clinic=clinic, channel="sms", recipient=NUMBERS["outbox"], template="staff_test")
    demographics.change_request_create(
        request=None,
        patient=victim,
        requested_by=user,
        proposed={"mobile": NUMBERS["asked"], "emergency_contact_phone": NUMBERS["emergency"]},
    )
    viewer = StaffFactory(clinic=clinic, username="viewer")
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    return {
        "patient": portal_client(user, victim),
        "staff": staff_client(world.owner_staff),
        "view-only staff": staff_client(viewer),
    }


def test_no_page_shows_a_raw_e164_number(world, phoned):
    routes = sweep.all_routes()
    targets, unswept = sweep.plan(routes, world.rows)
    assert not unswept, unswept
    urls = [(r, "/" + r.route) for r in routes if not r.params and "hooks/" not in r.route]
    urls += [(t.route, t.victim_url) for t in targets]
    problems, shown_national = [], set()
    for route, url in urls:
        viewers = ["staff", "view-only staff"] if route.in_admin else ["patient"]
        for viewer in viewers:
            response = phoned[viewer].get(url)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            text = response.content.decode()
            for number in raw_numbers(text):
                problems.append(f"GET {url} as {viewer}: shows {number}")
            shown_national |= {name for name, n in NUMBERS.items() if f"555-{n[-4:]}" in text}
    assert not problems, "\n".join(sorted(set(problems)))
    # The positive control: the numbers are on the pages, written nationally.
    assert shown_national >= {
        "mobile",
        "home",
        "account",
        "invitation",
        "verification",
        "outbox",
        "asked",
        "clinic",
    }, shown_national


def test_numbers_of_another_country_are_written_internationally(world, phoned):
    Patient.objects.filter(pk=world.victim.pk).update(mobile=NUMBERS["abroad"])
    page = phoned["staff"].get(f"/admin/patients/patient/{world.victim.pk}/change/")
    assert 'value="+44 20 7946 0958"' in page.content.decode()
    page = phoned["patient"].get("/portal/my-information/")
    assert "+44 20 7946 0958" in page.content.decode()


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_emails_and_texts_write_the_clinics_number_nationally(world, channel):
    clinic = world.clinic
    Clinic.objects.filter(pk=clinic.pk).update(phone=NUMBERS["clinic"])
    recipient = "+16135550150" if channel == "sms" else "v@example.com"
    notification = notify(
        clinic=Clinic.objects.get(pk=clinic.pk),
        channel=channel,
        recipient=recipient,
        template="verification_declined",
        context={"verification_id": world.rows["patients.verificationrequest"].pk},
    )
    rendered = render_notification(Notification.objects.get(pk=notification.pk))
    for part in (rendered.subject, rendered.text, rendered.html or ""):
        assert raw_numbers(part) == [], part
    assert "(613) 555-0100" in rendered.text


def test_the_sweep_sees_a_raw_number(phoned, monkeypatch):
    from portal.core.templatetags import portal_format

    monkeypatch.setattr(portal_format, "phone_display", lambda value, region=None: str(value))
    text = phoned["patient"].get("/portal/account/").content.decode()
    assert NUMBERS["account"] in raw_numbers(text)


# --- Templates keep to the filter -------------------------------------------------------

PHONE_NAME = re.compile(r"(?:^|[._])(phone|mobile|destination|recipient|clinic_phone)$")
VARIABLE = re.compile(r"\{\{\s*([^}|]+?)\s*(\|[^}]*)?\}\}")
WITH_ARG = re.compile(r"(\w+)=([\w.]+)((?:\|[\w:\"'.]+)*)")


BLOCK = re.compile(r"\{%\s*blocktranslate(.*?)%\}(.*?)\{%\s*endblocktranslate\s*%\}", re.DOTALL)


def _unfiltered_variables(text: str, bound=frozenset()) -> list[str]:
    found = []
    for match in VARIABLE.finditer(text):
        name, filters = match.group(1).strip(), match.group(2) or ""
        if name not in bound and PHONE_NAME.search(name) and "|phone" not in filters:
            found.append(match.group(0))
    return found


def unfiltered_phones(text: str) -> list[str]:
    """Phone-named variables a template shows without ``|phone`` (``tel:`` links aside);
    inside ``blocktranslate``, a name bound by ``with name=value|phone`` is filtered."""
    found = []
    text = TEL_LINK.sub("", text)
    for block in BLOCK.finditer(text):
        bound = set()
        for name, value, filters in WITH_ARG.findall(block.group(1)):
            bound.add(name)
            if PHONE_NAME.search(value) and "|phone" not in filters:
                found.append(f"{name}={value}{filters}")
        found += _unfiltered_variables(block.group(2), bound)
    found += _unfiltered_variables(BLOCK.sub("", text))
    return found


def test_every_template_shows_phone_numbers_through_the_filter():
    problems = []
    for path in sorted((ROOT / "templates").rglob("*")):
        if path.suffix in (".html", ".txt"):
            for found in unfiltered_phones(path.read_text()):
                problems.append(f"{path.relative_to(ROOT)}: {found}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "template, caught",
    [
        ("{{ patient.mobile }}", True),
        ("{{ clinic.phone|default:'' }}", True),
        ("{% blocktranslate with phone=clinic.phone %}x{% endblocktranslate %}", True),
        ("{{ patient.mobile|phone }}", False),
        ('<a href="tel:{{ clinic.phone }}">{{ clinic.phone|phone }}</a>', False),
        ("{% blocktranslate with phone=clinic.phone|phone %}x{% endblocktranslate %}", False),
        ("{{ user.email }}", False),
        ("{% blocktranslate %}Call {{ clinic_phone }}.{% endblocktranslate %}", True),
    ],
)
def test_the_template_check_can_fail(template, caught):
    assert bool(unfiltered_phones(template)) is caught
