"""The patient sign-in flow as a person walks it, and the chart they sign in to.

The ``chart`` fixture (tests/patients/conftest.py) carries these details; the clients
are ``tests.clients.host_client(committing=True)``, so each code is in its outbox when
the request that sent it returns.
"""

import re
from datetime import date

from django.core import mail

from patients.models import PasscodeDevice
from portal.notifications import sms
from tests.clients import set_session

HEALTH_CARD = "health-card"
CHART_ID = "4567 891 234"
CHART_ID_NORMALISED = "4567891234"
CHART_MOBILE = "+16135550123"
CHART_EMAIL = "margaret.oyelaran@example.com"
CHART_DOB = date(1961, 3, 14)
# Ways the chart's date of birth could show up on a page.
CHART_DOB_TEXTS = ["1961-03-14", "March 14, 1961", "Mar. 14, 1961", "14/03/1961", "03/14/1961"]
OTHER_MOBILE = "+16135550199"
# A new patient: an ID no chart has, a mobile no chart or account has.
NEW_ID = "1234-567-890"
NEW_MOBILE = "+16135550142"

CODE_RE = re.compile(r"\b(\d{6})\b")
CSRF_RE = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


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


def registration_form(**overrides):
    """What a new patient (Amara Nwosu) fills in on the register form, with ``overrides``."""
    data = {
        "first_name": "Amara",
        "last_name": "Nwosu",
        "date_of_birth": "1990-07-04",
        "sex": "F",
        "address_line1": "12 Elm Street",
        "city": "Ottawa",
        "region": "Ontario",
        "postal_code": "K1A 0B1",
        "mobile": "613 555 0142",
        "email": "amara@example.com",
        "preferred_language": "en",
        "consent": "on",
    }
    return {**data, **overrides}


def set_flow(c, **values):
    """Change the pending sign-in kept in the client's session."""
    return set_session(c, portal_signin={**c.session.get("portal_signin", {}), **values})
