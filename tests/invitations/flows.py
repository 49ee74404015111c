"""Invitations as staff send them and people open them: links, the pages after them.

The ``patient`` fixture (tests/invitations/conftest.py) carries these details; the
clients are ``tests.clients`` ones with ``committing=True``, so each email or text is in
its outbox when the request that sent it returns.
"""

import re
from datetime import date
from urllib.parse import urlsplit

from django.contrib.messages import get_messages
from django.core import mail

from portal.notifications import sms
from tests.factories import TEST_PASSWORD

PATIENT_DOB = date(1961, 4, 9)
PATIENT_EMAIL = "maria.silva@example.com"
PATIENT_MOBILE = "+16135550123"
NEW_PASSWORD = "a long and private passphrase"

LINK_RE = re.compile(r"https?://[^\s\"'<>]+/portal/invitation/([A-Za-z0-9_-]+)/")


def admin_url(patient, action=""):
    base = f"/admin/patients/patient/{patient.pk}/"
    return f"{base}{action}" if action else f"{base}change/"


def send(staff, patient, channel="email", **extra):
    """Send Portal Registration from the patient's admin page."""
    return staff.post(admin_url(patient, "portal/send/"), {"channel": channel}, **extra)


def flash(response):
    """The texts of the messages queued for the next page."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def links_in(text):
    return [m.group(0) for m in LINK_RE.finditer(text)]


def email_link(message):
    """The one invitation link in an email (text part; the HTML part must agree)."""
    links = links_in(message.body)
    assert len(links) == 1, message.body
    html = message.alternatives[0][0] if message.alternatives else ""
    assert links[0] in html
    return links[0]


def last_email_link():
    return email_link(mail.outbox[-1])


def last_sms_link():
    links = links_in(sms.outbox[-1].body)
    assert len(links) == 1, sms.outbox[-1].body
    return links[0]


def token_of(link):
    return LINK_RE.search(link).group(1)


def path_of(link):
    return urlsplit(link).path


def open_link(c, link):
    """Open the link as a person would (the landing moves the token into the session)
    and return the page it redirects to."""
    landing = c.get(path_of(link))
    assert landing.status_code == 302, landing
    assert landing["Location"] == "/portal/invitation/"
    return c.get("/portal/invitation/")


def confirm_dob(c, dob):
    return c.post("/portal/invitation/", {"date_of_birth": dob.isoformat()})


def create_account(c, *, method="password", password=NEW_PASSWORD):
    data = {"method": method, "terms": "on"}
    if method == "password":
        data.update(new_password1=password, new_password2=password)
    return c.post("/portal/invitation/", data)


def accept_as_new_account(c, link, dob, **kwargs):
    """Link → date of birth → new account → signed in. Returns the last response."""
    page = open_link(c, link)
    assert page.status_code == 200, page.content.decode()
    confirmed = confirm_dob(c, dob)
    assert confirmed.status_code == 302, confirmed.content.decode()
    done = create_account(c, **kwargs)
    assert done.status_code == 302, done.content.decode()
    assert done["Location"] == "/portal/"
    return done


def sign_in_with_password(c, login, password=TEST_PASSWORD):
    return c.post("/portal/sign-in/password/", {"login": login, "password": password})


def is_signed_in(response):
    return response.wsgi_request.user.is_authenticated
