"""Helpers for the patient sign-in, account and verification tests.

Notifications are recorded in the caller's transaction and queued with
``transaction.on_commit``. The test database never commits, so ``client()`` returns a
test client that runs each request's on-commit callbacks as the request ends (what the
real commit does): the code's SMS or email is in its outbox when the request returns.
"""

import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core import mail
from django.test import Client, TestCase

from patients.models import PasscodeDevice, Patient
from portal.notifications import sms
from tests.factories import PatientFactory, PatientIdentifierFactory, UserFactory

# 09:00 in Toronto (the clinic's time zone), on a whole second.
NOW = datetime(2030, 1, 15, 14, 0, tzinfo=UTC)

HEALTH_CARD = "health-card"
CHART_ID = "4567 891 234"
CHART_ID_NORMALISED = "4567891234"
CHART_MOBILE = "+16135550123"
CHART_EMAIL = "margaret.oyelaran@example.com"
CHART_DOB = date(1961, 3, 14)
# Ways the chart's date of birth could show up on a page.
CHART_DOB_TEXTS = ["1961-03-14", "March 14, 1961", "Mar. 14, 1961", "14/03/1961", "03/14/1961"]
OTHER_MOBILE = "+16135550199"

CODE_RE = re.compile(r"\b(\d{6})\b")
CSRF_RE = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


class CommittingClient(Client):
    """A test client whose requests end like a committed transaction: on-commit
    callbacks (the eager Celery send of notifications) run before it returns."""

    def request(self, **request):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**request)


def client(slug="demo", user=None, **defaults):
    """Like ``tests.conftest.host_client``, with notifications sent at each request's end."""
    result = CommittingClient(HTTP_HOST=f"{slug}.localhost", **defaults)
    if user is not None:
        result.force_login(user)
    return result


def begin(c, *, id_number=CHART_ID, contact=CHART_MOBILE, contact_type="sms"):
    """Steps 1 to 3 (ID, contact, Next: the code is sent). Returns the three responses."""
    identification = c.post("/portal/", {"id_type": HEALTH_CARD, "id_number": id_number})
    contact_step = c.post(
        "/portal/sign-in/contact/", {"contact_type": contact_type, "contact": contact}
    )
    check = c.post("/portal/sign-in/check/")
    return identification, contact_step, check


def last_code(contact_type="sms"):
    """The 6-digit code in the newest text (or email)."""
    body = sms.outbox[-1].body if contact_type == "sms" else mail.outbox[-1].body
    match = CODE_RE.search(body)
    assert match, f"no code in {body!r}"
    return match.group(1)


def enter_code(c, code):
    return c.post("/portal/sign-in/code/", {"code": code})


def sign_in(c, *, id_number=CHART_ID, contact=CHART_MOBILE, contact_type="sms"):
    """The whole ID + contact + code flow; returns the answer to the code."""
    *_, check = begin(c, id_number=id_number, contact=contact, contact_type=contact_type)
    assert check.status_code == 302, check.content.decode()
    assert check["Location"] == "/portal/sign-in/code/"
    return enter_code(c, last_code(contact_type))


def wrong(code):
    """A 6-digit code that is not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def fail_in_a_row(c, times, frozen):
    """``times`` wrong codes in a row, asking for a new code (after the one-minute wait)
    whenever five wrong tries have killed the current one. Returns the last answer."""
    answer = None
    for attempt in range(times):
        if attempt and attempt % PasscodeDevice.MAX_CODE_TRIES == 0:
            frozen.shift(61)
            c.post("/portal/sign-in/code/resend/")
        answer = enter_code(c, wrong(last_code()))
    return answer


def signed_in(c):
    return c.get("/portal/account/").status_code == 200


def strip_csrf(content: bytes) -> bytes:
    return CSRF_RE.sub(b'name="csrfmiddlewaretoken" value=""', content)


def set_flow(c, **values):
    """Change the pending sign-in kept in the client's session."""
    session = c.session
    session["portal_signin"] = {**session.get("portal_signin", {}), **values}
    session.save()


@pytest.fixture
def frozen():
    """The clock stands still at NOW until the test moves it (``frozen.shift(...)``)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def chart(clinic) -> Patient:
    """A chart at the demo clinic with a health-card number, a mobile and an email."""
    patient = PatientFactory(
        clinic=clinic,
        first_name="Margaret",
        last_name="Oyelaran",
        date_of_birth=CHART_DOB,
        mobile=CHART_MOBILE,
        email=CHART_EMAIL,
    )
    PatientIdentifierFactory(patient=patient, number=CHART_ID)
    return patient


@pytest.fixture
def fiona(front_desk):
    """The front-desk staff member, with a name the activity page can show."""
    front_desk.first_name, front_desk.last_name = "Fiona", "Desk"
    front_desk.save(update_fields=["first_name", "last_name"])
    return front_desk


@pytest.fixture
def rosa(clinic):
    """A patient account with a password, an email, a mobile, and a self grant."""
    from patients.models import PatientAccess

    user = UserFactory(
        clinic=clinic,
        username="rosa",
        first_name="Rosa",
        last_name="Quintero",
        email="rosa@example.com",
        phone="+16135550177",
    )
    patient = PatientFactory(
        clinic=clinic,
        first_name="Rosa",
        last_name="Quintero",
        email="rosa@example.com",
        mobile="+16135550177",
    )
    PatientAccess.objects.create(clinic=clinic, user=user, patient=patient, relationship="self")
    return user
