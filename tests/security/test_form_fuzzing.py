"""Hypothesis fuzzing of every portal form: whatever is posted, the portal answers below
500 and raises nothing (the test client re-raises a view's exception).

Each form gets the session state that lets a POST reach it (a pending sign-in, a proven
contact, a reset link, a valid invitation, a signed-in patient), then Hypothesis posts
field sets where any field may be missing, plausible (a real choice, id or slot, so the
request gets past the first checks), or hostile: arbitrary unicode, overlong text, NUL,
emoji, control characters, HTML and template syntax, numbers out of range, naive and
extreme dates. Values that once crashed a view are pinned with ``@example``.

Examples per form: ``SECURITY_FUZZ_EXAMPLES`` (default 30, which keeps the run fast);
raise it for a deeper run. No example database is written to the working tree.
"""

import datetime as dt
import itertools
import os
import re
import time
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from appointments.selectors import free_slots
from invitations.services import invitation_send
from patients.sessions import SESSION_PATIENT
from tests.clients import host_client, portal_client, set_session
from tests.factories import (
    PasscodeDeviceFactory,
    PatientAccessFactory,
    PatientFactory,
    TOTPDeviceFactory,
    UserFactory,
    WeeklyAvailabilityFactory,
)
from tests.security.world import with_self_grant
from tests.uploads import PDF_BYTES

EXAMPLES = int(os.environ.get("SECURITY_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY = [
    "",
    " ",
    "\t\r\n",
    "\x00",
    "abc\x00def",
    "\r\nSet-Cookie: hacked=1",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ request.user }}{% debug %}",
    "' OR '1'='1' --",
    "%00%0d%0a",
    "../../../../etc/passwd",
    "😀🏥👩‍👩‍👧‍👦",
    "\u202eevil\u202c",
    "\ufeff\u200b",
    "Ｆｕｌｌｗｉｄｔｈ",
    "x" * 10_000,
    "😀" * 3_000,
    "0",
    "-1",
    "²",
    "٣",
    "1e309",
    "NaN",
    "99999999999999999999999",
    "2030-02-30",
    "0001-01-01",
    "9999-12-31",
    "2030-01-15T10:00",
    "9999-12-31T23:59:59+00:00",
    "0001-01-01T00:00:00+14:00",
    "a@b",
    "+16135550123",
    "613 555 0123",
]

_offsets = st.builds(
    dt.timezone, st.timedeltas(min_value=dt.timedelta(hours=-14), max_value=dt.timedelta(hours=14))
)


def hostile():
    return st.one_of(
        st.sampled_from(NASTY),
        st.text(max_size=60),
        st.text(min_size=1, max_size=6).map(lambda s: s * 700),
        st.integers().map(str),
        st.dates().map(dt.date.isoformat),
        st.datetimes(timezones=st.none() | _offsets).map(dt.datetime.isoformat),
    )


def form(**fields):
    """POST data: each field may be missing, plausible (the values given) or hostile."""
    optional = {
        name: st.one_of(st.sampled_from(plausible), hostile()) if plausible else hostile()
        for name, plausible in fields.items()
    }
    return st.fixed_dictionaries({}, optional=optional)


def ok(response):
    assert response.status_code < 500, response.status_code
    return response


_numbers = itertools.count(1)


def unique(prefix):
    return f"{prefix}{next(_numbers)}"


@pytest.fixture
def patient_client(world):
    """The victim's portal session (a fresh client per call)."""
    return lambda: portal_client(world.victim_user, world.victim)


# --- Sign-in, registration and password reset ------------------------------------------


def test_identification(world):
    @FUZZ
    @given(form(id_type=["health-card", "mrn"], id_number=["1234567890", "4567 891 234"]))
    def post(data):
        ok(host_client("demo").post("/portal/", data))

    post()


def _signin_flow(clinic, **extra):
    return {"clinic": clinic.pk, "id_type": "health-card", "id_number": "1234567890", **extra}


def test_contact_step(world):
    @FUZZ
    @given(form(contact_type=["sms", "email"], contact=["+16135550142", "v@example.com"]))
    def post(data):
        client = set_session(host_client("demo"), portal_signin=_signin_flow(world.clinic))
        ok(client.post("/portal/sign-in/contact/", data))

    post()


def test_code_step_and_resend(world):
    device = PasscodeDeviceFactory(clinic=world.clinic, destination="+16135550142")
    device.issue_code(valid_secs=600)
    flow = _signin_flow(
        world.clinic,
        channel="sms",
        destination="+16135550142",
        device_id=device.pk,
        flow=str(device.flow),
    )

    @FUZZ
    @given(form(code=["123456", "000000"]))
    def post(data):
        client = set_session(host_client("demo"), portal_signin=flow)
        ok(client.post("/portal/sign-in/code/", data))
        ok(client.post("/portal/sign-in/code/resend/", data))

    post()


def test_password_sign_in(world):
    @FUZZ
    @given(form(login=[world.victim_user.email, "+16135550142"], password=["wrong password"]))
    def post(data):
        ok(host_client("demo").post("/portal/sign-in/password/", data))

    post()


def test_authenticator_step(world):
    TOTPDeviceFactory(user=world.victim_user)

    @FUZZ
    @given(form(code=["123456"]))
    def post(data):
        pending = {"user": world.victim_user.pk, "at": time.time(), "method": "password"}
        client = set_session(host_client("demo"), portal_pending_mfa=pending)
        ok(client.post("/portal/sign-in/authenticator/", data))

    post()


def test_registration(world):
    @FUZZ
    @given(
        form(
            first_name=["Ada"],
            last_name=["Lovelace"],
            date_of_birth=["1990-04-01"],
            sex=["F", "M", "X", "U"],
            address_line1=["1 Main St"],
            city=["Ottawa"],
            region=["ON"],
            postal_code=["K1A 0A1"],
            mobile=["+16135550199"],
            email=["ada@example.com"],
            preferred_language=["en", "fr"],
            consent=["on"],
        )
    )
    def post(data):
        flow = _signin_flow(
            world.clinic,
            id_number=unique("77000"),
            channel="sms",
            destination="+16135550199",
            proven_at=time.time(),
            proven_channel="sms",
            proven_destination="+16135550199",
        )
        client = set_session(host_client("demo"), portal_signin=flow)
        ok(client.post("/portal/register/", data))

    post()


def test_password_reset_request(world):
    @FUZZ
    @given(form(login=[world.victim_user.email, "nobody@example.com"]))
    def post(data):
        ok(host_client("demo").post("/portal/password-reset/", data))

    post()


def test_password_reset_link_and_new_password(world):
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from patients.accounts import reset_token_generator

    @FUZZ
    @given(
        form(new_password1=["a long and private passphrase"], new_password2=["mismatch"]),
        st.one_of(st.sampled_from(NASTY), st.text(alphabet="abcdef0123456789-", max_size=40)),
    )
    def post(data, token):
        user = UserFactory(clinic=world.clinic, username=unique("reset"))
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        client = host_client("demo")
        ok(client.get(f"/portal/password-reset/{uid}/{token.replace('/', '')}/"))
        ok(client.post("/portal/password-reset/set/", data))
        real = reset_token_generator.make_token(user)
        ok(client.get(f"/portal/password-reset/{uid}/{real}/"))
        ok(client.post("/portal/password-reset/set/", data))

    post()


# --- Signed-in pages -------------------------------------------------------------------


def test_account_password(world, patient_client):
    @FUZZ
    @given(form(new_password1=["a long and private passphrase"], new_password2=["x"]))
    def post(data):
        ok(patient_client().post("/portal/account/password/", data))

    post()


def test_account_authenticator(world, patient_client):
    @FUZZ
    @given(form(code=["123456"]))
    def post(data):
        ok(patient_client().post("/portal/account/authenticator/", data))

    post()


def test_switching_person(world):
    user = world.victim_user
    child = PatientFactory(clinic=world.clinic, first_name="Kid")
    PatientAccessFactory(user=user, patient=child, relationship="parent")

    @FUZZ
    @given(form(patient=[str(child.pk), str(world.victim.pk), str(world.people["other"][1].pk)]))
    def post(data):
        ok(portal_client(user, world.victim).post("/portal/switch/", data))

    post()


DEMOGRAPHICS = {
    "first_name": ["Verity"],
    "last_name": ["Victimson"],
    "date_of_birth": ["1980-05-17"],
    "sex": ["F", "U"],
    "address_line1": ["2 Side St"],
    "address_line2": [""],
    "city": ["Ottawa"],
    "region": ["ON"],
    "postal_code": ["K1A 0A1"],
    "mobile": ["+16135550142", "+16135550166"],
    "home_phone": ["", "613 555 0100"],
    "email": ["new@example.com", ""],
    "preferred_language": ["en", "fr"],
    "emergency_contact_name": ["Sam"],
    "emergency_contact_relationship": ["Brother"],
    "emergency_contact_phone": ["+16135550111"],
}


def test_my_information_change_and_confirm(world, patient_client):
    @FUZZ
    @given(form(**DEMOGRAPHICS), form(code=["123456"]))
    def post(data, code):
        client = patient_client()
        ok(client.post("/portal/my-information/change/", data))
        ok(client.post("/portal/my-information/confirm/", code))

    post()


def test_notice_preferences(world, patient_client):
    choices = ["", "email", "sms", "none"]

    @FUZZ
    @given(form(notify_appointments_by=choices, notify_messages_by=choices))
    def post(data):
        ok(patient_client().post("/portal/my-information/notices/", data))

    post()


@pytest.fixture
def bookable(world):
    """Dr Osei works every day 9:00–17:00; the first free slots of tomorrow."""
    provider = world.rows["appointments.provider"]
    kind = world.rows["appointments.appointmenttype"]
    for weekday in range(7):
        WeeklyAvailabilityFactory(
            provider=provider,
            weekday=weekday,
            start_time=dt.time(9),
            end_time=dt.time(17),
        )
    tomorrow = timezone.localdate(timezone=world.clinic.tz) + dt.timedelta(days=1)
    slots = free_slots(provider=provider, appointment_type=kind, start_date=tomorrow, days=1)
    starts = [s.isoformat() for s in slots[tomorrow][:5]]
    return provider, kind, starts


def test_booking_search(world, patient_client, bookable):
    provider, kind, _starts = bookable

    @FUZZ
    @given(form(appointment_type=[str(kind.pk)], provider=["", str(provider.pk)], week=[""]))
    @example({"appointment_type": "²"})
    @example({"appointment_type": str(kind.pk), "week": "9999-12-31"})
    @example({"appointment_type": str(kind.pk), "week": "0001-01-01"})
    @example({"appointment_type": str(kind.pk), "week": "2999-12-31"})
    @example({"appointment_type": str(kind.pk), "week": "1900-01-01"})
    def get(data):
        ok(patient_client().get("/portal/appointments/book/", data))

    get()


def test_booking_confirm(world, patient_client, bookable):
    provider, kind, starts = bookable

    @FUZZ
    @given(
        form(
            appointment_type=[str(kind.pk)],
            provider=[str(provider.pk)],
            start=starts,
            slot=[f"{provider.pk}|{s}" for s in starts],
            reason=["Knee pain"],
            confirm=["1"],
        )
    )
    @example(
        {
            "appointment_type": str(kind.pk),
            "provider": str(provider.pk),
            "start": "2030-01-15T10:00",
        }
    )
    @example(
        {
            "appointment_type": str(kind.pk),
            "provider": str(provider.pk),
            "start": "9999-12-31T23:59:59+00:00",
            "confirm": "1",
            "reason": "x",
        }
    )
    @example(
        {
            "appointment_type": str(kind.pk),
            "provider": str(provider.pk),
            "start": "0001-01-01T00:00:00+14:00",
        }
    )
    def post(data):
        ok(patient_client().post("/portal/appointments/book/confirm/", data))

    post()


UPLOADS = [
    ("results.pdf", PDF_BYTES),
    ("photo.png", PDF_BYTES),
    ("tool.exe", b"MZ\x90\x00" + b"\x00" * 60),
    ("empty.pdf", b""),
    ("<script>alert(1)</script>.pdf", PDF_BYTES),
    ("../../../etc/passwd.pdf", PDF_BYTES),
    ("😀" * 200 + ".pdf", PDF_BYTES),
    ("fake.gif", b"GIF89a" + b"\x00" * 20),
]


def _with_upload(data, upload):
    if upload is None:
        return data
    name, content = upload
    return {**data, "attachment": SimpleUploadedFile(name, content)}


def test_new_message(world, patient_client):
    @FUZZ
    @given(
        form(category=["general", "referral"], subject=["A question"], body=["Hello"]),
        st.none() | st.sampled_from(UPLOADS),
    )
    def post(data, upload):
        ok(patient_client().post("/portal/messages/new/", _with_upload(data, upload)))

    post()


def test_reply(world, patient_client):
    thread = world.rows["messaging.thread"]

    @FUZZ
    @given(form(body=["Thank you"]), st.none() | st.sampled_from(UPLOADS))
    def post(data, upload):
        ok(patient_client().post(f"/portal/messages/{thread.pk}/", _with_upload(data, upload)))

    post()


def test_page_numbers_and_query_strings(world, patient_client):
    @FUZZ
    @given(form(page=["1", "2", "last"]))
    def get(data):
        client = patient_client()
        for path in ("/portal/messages/", "/portal/appointments/", "/portal/account/activity/"):
            ok(client.get(path, data))

    get()


def stays_on_host(location):
    """A redirect a browser would follow to this host only (it drops tabs and newlines
    and reads a backslash as a slash)."""
    parts = urlsplit(re.sub(r"[\t\n\r]", "", location).replace("\\", "/"))
    return not parts.scheme and parts.netloc in ("", "demo.localhost")


def test_language_switch(world):
    """Django's set_language: any language or ``next``, and never a redirect off the host."""
    nexts = [
        "/portal/",
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ]

    @FUZZ
    @given(form(language=["en", "fr"], next=nexts))
    def post(data):
        response = ok(host_client("demo").post("/i18n/setlang/", data))
        assert stays_on_host(response.get("Location", "")), response.get("Location")

    post()


# --- Invitation links ------------------------------------------------------------------


def _invitation(world):
    """A fresh invitation for a new chart; returns (invitation, token)."""
    patient = PatientFactory(
        clinic=world.clinic,
        email=f"{unique('invitee')}@example.com",
        date_of_birth=dt.date(1961, 4, 9),
    )
    invitation = invitation_send(patient=patient, channel="email", sent_by=None)
    # The token the emailed link carries (made when the email renders).
    return invitation, invitation.issue_token()


def test_invitation_birth_date(world):
    @FUZZ
    @given(form(date_of_birth=["1961-04-09", "1961-04-10"]))
    def post(data):
        _invitation_row, token = _invitation(world)
        client = host_client("demo")
        ok(client.get(f"/portal/invitation/{token}/"))
        ok(client.post("/portal/invitation/", data))

    post()


def test_invitation_accept(world):
    @FUZZ
    @given(
        form(
            method=["password", "passcode"],
            new_password1=["a long and private passphrase"],
            new_password2=["a long and private passphrase"],
            terms=["on"],
        )
    )
    def post(data):
        invitation, token = _invitation(world)
        client = set_session(
            host_client("demo"),
            portal_invitation_token=token,
            portal_invitation_dob_ok=invitation.pk,
        )
        ok(client.post("/portal/invitation/", data))

    post()


def test_invitation_token_in_the_link(world):
    @FUZZ
    @given(st.one_of(st.sampled_from(NASTY), st.text(max_size=100)))
    def get(token):
        client = host_client("demo")
        token = token.replace("/", "").replace("?", "").replace("#", "") or "x"
        ok(client.get(f"/portal/invitation/{token}/"))
        ok(client.get("/portal/invitation/"))

    get()


def test_a_representative_signed_in_elsewhere_opening_a_link(world):
    """An invitation opened while another account is signed in on the browser."""
    other_chart, other_user = with_self_grant(
        world.clinic, first_name="Oscar", last_name="Other", username="oscar"
    )

    @FUZZ
    @given(form(terms=["on"], method=["passcode"]))
    def post(data):
        invitation, token = _invitation(world)
        client = set_session(
            portal_client(other_user, other_chart),
            portal_invitation_token=token,
            portal_invitation_dob_ok=invitation.pk,
        )
        ok(client.post("/portal/invitation/", data))

    post()


def test_switch_state_survives_a_stale_session(world):
    """A session naming a chart the account no longer reaches still answers cleanly."""
    client = portal_client(world.victim_user, world.victim)
    set_session(client, **{SESSION_PATIENT: 10**12})
    for path in (
        "/portal/",
        "/portal/messages/",
        "/portal/appointments/",
        "/portal/my-information/",
    ):
        ok(client.get(path))
