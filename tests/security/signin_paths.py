"""The sign-in paths of the portal, driven black-box through HTTP, for the sign-in invariant
(``test_signin_invariant.py``).

An actor is a browser (the Django test client on the demo clinic's host) and a set of
mailboxes and phones. The actor reads the codes and links the portal sends, but only those
that reach a mailbox or phone of theirs, as real delivery would route them:

- an email reaches the mailbox ``<local part, ASCII letters lower-cased>@<domain, IDNA
  (UTS 46)>``: ``OLIVIA@Example.COM`` reaches ``olivia@example.com``, while ``olıvia@…``
  (dotless ı), a Cyrillic ``о`` or ``gmaıl.com`` reach other mailboxes;
- a text reaches the phone of its E.164 number.

The *attacker* owns every mailbox and phone except the victim's and knows neither the
victim's password nor their authenticator's secret. The *holder* is the victim: they own
the victim's mailbox and phone, know the password and carry the authenticator.

Every path is a function ``path(actor, typed)`` that walks one way of signing in with what
the actor typed (``Typed``: a contact and an ID number, usually a spelling of the victim's)
and returns the last response. The client records each session that the browser came to
hold (``SignIn``), with what the actor had proved by then: the mailboxes and phones whose
code or link they used, and the accounts whose authenticator code they typed.
"""

import contextlib
import html
import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

import idna
import phonenumbers
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import TestCase
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import User
from invitations import services as invitations
from patients.recovery import recovery_codes_generate
from portal.notifications import sms
from tests.clients import CommittingClient
from tests.factories import (
    PatientAccessFactory,
    PatientFactory,
    PatientIdentifierFactory,
    TOTPDeviceFactory,
    UserFactory,
    portal_settings_of,
)

HOST = "demo.localhost"
REGION = "CA"
HEALTH_CARD = "health-card"

VICTIM_EMAILS = ("olivia.kristoff@example.com", "olivia@bücher.example")
VICTIM_MOBILE = "+16135550123"
VICTIM_ID = "4567 891 234 AB"
VICTIM_DOB = date(1961, 3, 14)
VICTIM_PASSWORD = "correct horse battery staple"

ATTACKER_EMAIL = "mallory@attacker.example"
ATTACKER_MOBILE = "+16135550199"
ATTACKER_DOB = date(1990, 7, 1)
ATTACKER_PASSWORD = "lantern orchard pebble 42"
# IDs no chart has until the attacker registers one (the second when the first is taken).
ATTACKER_IDS = ("9876 543 210 ZX", "1357 246 800 QW")
NEW_PASSWORD = "harbour violet kettle 17"

START = "/portal/"
CONTACT = "/portal/sign-in/contact/"
CHECK = "/portal/sign-in/check/"
CODE = "/portal/sign-in/code/"
REGISTER = "/portal/register/"
PASSWORD_SIGN_IN = "/portal/sign-in/password/"
AUTHENTICATOR_STEP = "/portal/sign-in/authenticator/"
RECOVERY_CODE_STEP = "/portal/sign-in/recovery-code/"
RECOVERY_CODES_PAGE = "/portal/account/recovery-codes/"
RECOVERY_CODE_RE = re.compile(r"<li>([0-9A-Z]{5}-[0-9A-Z]{5})</li>")
A_RECOVERY_CODE_GUESS = "ABCDE-12345"
AUTHENTICATOR_SETUP = "/portal/account/authenticator/"
ACCOUNT_PASSWORD = "/portal/account/password/"
SIGN_OUT = "/portal/sign-out/"
RESET = "/portal/password-reset/"
RESET_SET = "/portal/password-reset/set/"
INVITATION = "/portal/invitation/"
# Portal pages that a session restricted to enrolling an authenticator may not open.
OTHER_PAGES = ("/portal/", "/portal/my-information/", "/portal/messages/")

CODE_RE = re.compile(r"\b(\d{6})\b")
RESET_LINK_RE = re.compile(r"/portal/password-reset/[^/\s]+/[^/\s]+/")
INVITATION_LINK_RE = re.compile(r"/portal/invitation/[^/\s]+/")
AN_AUTHENTICATOR_GUESS = "123456"


# --- Where a notification lands ----------------------------------------------------------


def _ascii_lower(text: str) -> str:
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in text)


def mailbox(channel: str, recipient: str) -> str:
    """The mailbox (``email:…``) or phone (``sms:…``) that a notification sent to
    ``recipient`` reaches."""
    recipient = recipient.strip()
    if channel == "email":
        local, _at, domain = recipient.rpartition("@")
        # A domain IDNA cannot encode is undeliverable as written: a mailbox of its own.
        with contextlib.suppress(idna.IDNAError, UnicodeError):
            domain = idna.encode(domain, uts46=True).decode("ascii")
        return f"email:{_ascii_lower(local)}@{domain}"
    try:
        number = phonenumbers.parse(recipient, REGION)
        recipient = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return f"sms:{recipient}"


@dataclass(frozen=True)
class Letter:
    mailbox: str
    body: str


class PostOffice:
    """Every email and text sent so far, by the mailbox or phone it reached."""

    def mark(self) -> tuple[int, int]:
        return len(mail.outbox), len(sms.outbox)

    def since(self, mark) -> list[Letter]:
        emails, texts = mark
        letters = [
            Letter(mailbox("email", to), message.body)
            for message in mail.outbox[emails:]
            for to in message.to
        ]
        letters += [Letter(mailbox("sms", text.to), text.body) for text in sms.outbox[texts:]]
        return letters


# --- Sessions the browser held -----------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    """A session for ``account``, and what the actor had proved when it began."""

    account: User
    proved: frozenset
    passed_authenticator: frozenset


def session_account(client) -> User | None:
    """The account the client's session is signed in to (a valid session only)."""
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    if cookie is None or not cookie.value:
        return None
    session = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(cookie.value)
    pk = session.get(SESSION_KEY)
    user = User.objects.filter(pk=pk).first() if pk else None
    if user is None or not user.is_active:
        return None
    if not constant_time_compare(session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
        return None
    return user


class RecordingClient(CommittingClient):
    """A browser on the clinic's host that notes each session it comes to hold."""

    def __init__(self, actor):
        super().__init__(HTTP_HOST=HOST)
        self.actor = actor
        self.sign_ins: list[SignIn] = []
        self._current = None

    def request(self, **request):
        response = super().request(**request)
        account = session_account(self)
        held = (self.cookies[settings.SESSION_COOKIE_NAME].value, account.pk) if account else None
        if held is not None and held != self._current:
            self.sign_ins.append(
                SignIn(
                    account=account,
                    proved=frozenset(self.actor.proved),
                    passed_authenticator=frozenset(self.actor.passed_authenticator),
                )
            )
        self._current = held
        return response


# --- The world and its actors --------------------------------------------------------------


@dataclass(frozen=True)
class Victim:
    """The victim's account: its email, and whether it has a password and an authenticator;
    and whether the clinic requires an authenticator of every patient."""

    email: str = VICTIM_EMAILS[0]
    password: bool = True
    authenticator: bool = False
    mfa_required: bool = False


@dataclass
class World:
    clinic: object
    staff: object
    clock: object
    victim: User
    victim_chart: object
    victim_email: str
    victim_has_password: bool
    mfa_required: bool
    authenticator_at_start: frozenset  # accounts with a confirmed authenticator
    victim_recovery_codes: tuple = ()  # shown to the holder when they set up the app
    post: PostOffice = field(default_factory=PostOffice)

    @property
    def victims_mailboxes(self) -> frozenset:
        return frozenset({mailbox("email", self.victim_email), mailbox("sms", VICTIM_MOBILE)})

    def sign_in_contacts(self, account) -> frozenset:
        """Where the account's sign-in contacts reach (the victim's as they were at the
        start: a flow that changed them must still have proved the old ones)."""
        if account.pk == self.victim.pk:
            return self.victims_mailboxes
        boxes = set()
        if account.email:
            boxes.add(mailbox("email", account.email))
        if account.phone:
            boxes.add(mailbox("sms", str(account.phone)))
        return frozenset(boxes)


def world_with_a_victim(*, clinic, staff, clock, victim: Victim) -> World:
    """The victim's chart (health card, date of birth, email, mobile) and portal account."""
    portal_settings_of(clinic, mfa_required=victim.mfa_required)
    chart = PatientFactory(
        clinic=clinic,
        first_name="Olivia",
        last_name="Kristoff",
        date_of_birth=VICTIM_DOB,
        email=victim.email,
        mobile=VICTIM_MOBILE,
    )
    PatientIdentifierFactory(patient=chart, number=VICTIM_ID)
    account = UserFactory(
        clinic=clinic,
        username="olivia",
        first_name="Olivia",
        last_name="Kristoff",
        email=victim.email,
        phone=VICTIM_MOBILE,
        password=VICTIM_PASSWORD,
    )
    if not victim.password:
        account.set_unusable_password()
        account.save(update_fields=["password"])
    PatientAccessFactory(user=account, patient=chart, relationship="self")
    codes = []
    if victim.authenticator:
        TOTPDeviceFactory(user=account)
        codes = recovery_codes_generate(request=None, user=account)
    return World(
        victim_recovery_codes=tuple(codes),
        clinic=clinic,
        staff=staff,
        clock=clock,
        victim=account,
        victim_chart=chart,
        victim_email=victim.email,
        victim_has_password=victim.password,
        mfa_required=victim.mfa_required,
        authenticator_at_start=frozenset(
            TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True)
        ),
    )


@dataclass(frozen=True)
class Typed:
    """What the actor types: the contact (and its kind) and an ID number."""

    contact_type: str  # "email" or "sms"
    contact: str
    id_number: str


@dataclass
class Actor:
    name: str
    world: World = field(repr=False)
    holder: bool
    email: str  # the actor's own address and mobile, as they would type them
    mobile: str
    dob: date
    password: str
    proved: set = field(default_factory=set)
    passed_authenticator: set = field(default_factory=set)
    authenticators: list = field(default_factory=list)  # devices whose secret they hold
    # Recovery codes the actor saw (shown once, on their own screen), by account id.
    recovery_codes: dict = field(default_factory=dict)
    # At the authenticator step: a recovery code instead of the app's code.
    prefers_recovery_code: bool = False
    letters_used: int = 0

    def __post_init__(self):
        self.client = RecordingClient(self)

    def owns(self, box: str) -> bool:
        return (box in self.world.victims_mailboxes) == self.holder

    def own_contact(self, contact_type):
        return self.email if contact_type == "email" else self.mobile

    def read(self, mark, pattern):
        """The newest code or link matching ``pattern`` that reached one of the actor's
        mailboxes or phones since ``mark``; using it proves that mailbox or phone."""
        for letter in reversed(self.world.post.since(mark)):
            found = pattern.search(letter.body)
            if found and self.owns(letter.mailbox):
                self.proved.add(letter.mailbox)
                self.letters_used += 1
                return found
        return None

    def session_account(self):
        return session_account(self.client)


def attacker(world: World) -> Actor:
    return Actor(
        name="attacker",
        world=world,
        holder=False,
        email=ATTACKER_EMAIL,
        mobile=ATTACKER_MOBILE,
        dob=ATTACKER_DOB,
        password=ATTACKER_PASSWORD,
    )


def holder(world: World) -> Actor:
    """The victim themself, who proved their contacts when they set up the account and
    holds its authenticator (if any)."""
    actor = Actor(
        name="holder",
        world=world,
        holder=True,
        email=world.victim_email,
        mobile=VICTIM_MOBILE,
        dob=VICTIM_DOB,
        password=VICTIM_PASSWORD,
        proved=set(world.victims_mailboxes),
    )
    actor.authenticators = list(TOTPDevice.objects.filter(user=world.victim, confirmed=True))
    if world.victim_recovery_codes:
        actor.recovery_codes[world.victim.pk] = list(world.victim_recovery_codes)
    return actor


# --- Steps shared by the paths -------------------------------------------------------------


def redirects_to(response, path) -> bool:
    return response.status_code in (301, 302, 303) and urlsplit(response["Location"]).path == path


def _prefilled(page, name) -> str | None:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page.content.decode())
    return html.unescape(found.group(1)) if found else None


def passcode_sign_in(actor, *, id_number, contact_type, contact):
    """ID, contact, Next, the code (if it reached the actor): then whatever follows
    (registration, the authenticator step)."""
    c = actor.client
    response = c.post(START, {"id_type": HEALTH_CARD, "id_number": id_number})
    if not redirects_to(response, CONTACT):
        return response
    response = c.post(CONTACT, {"contact_type": contact_type, "contact": contact})
    if not redirects_to(response, CHECK):
        return response
    mark = actor.world.post.mark()
    response = c.post(CHECK)
    if not redirects_to(response, CODE):
        return response
    code = actor.read(mark, CODE_RE)
    if code is None:
        return response  # the code went to someone else's mailbox or phone
    return after_first_factor(actor, c.post(CODE, {"code": code.group(1)}))


def after_first_factor(actor, response):
    if redirects_to(response, REGISTER):
        response = register(actor)
    if redirects_to(response, AUTHENTICATOR_STEP):
        response = authenticator_step(actor)
    if redirects_to(response, INVITATION):  # back to the invitation opened before
        response = actor.client.get(INVITATION)
    return response


def register(actor):
    """Complete the registration form, keeping the contact it shows as proven."""
    page = actor.client.get(REGISTER)
    if page.status_code != 200:
        return page
    details = {
        "first_name": "Mallory" if not actor.holder else "Olivia",
        "last_name": "Attacker" if not actor.holder else "Kristoff",
        "date_of_birth": actor.dob.isoformat(),
        "sex": "U",
        "address_line1": "1 Main Street",
        "city": "Ottawa",
        "region": "ON",
        "postal_code": "K1A 0A1",
        "email": _prefilled(page, "email") or actor.email,
        "mobile": _prefilled(page, "mobile") or actor.mobile,
        "preferred_language": "en",
        "consent": "on",
    }
    return actor.client.post(REGISTER, details)


def _authenticator_code(actor, device) -> str:
    actor.world.clock.shift(device.step)  # a new time step: a code is good once
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def authenticator_step(actor):
    """Type the code the actor's authenticator app shows, or a guess if they have none
    (or, for an actor who prefers it, one of the recovery codes they saw, or a guess)."""
    if actor.prefers_recovery_code:
        return recovery_code_step(actor)
    if actor.authenticators:
        device = actor.authenticators[-1]
        code = _authenticator_code(actor, device)
        actor.passed_authenticator.add(device.user_id)
    else:
        code = AN_AUTHENTICATOR_GUESS
    return actor.client.post(AUTHENTICATOR_STEP, {"code": code})


def recovery_code_step(actor):
    """At the authenticator step, "Use a recovery code": one the actor saw for the account
    whose authenticator is asked (they cannot tell which from the page: the newest
    they saw), else a guess."""
    seen = [code for codes in actor.recovery_codes.values() for code in codes]
    if seen:
        code = seen.pop()
        owner = next(pk for pk, codes in actor.recovery_codes.items() if code in codes)
        actor.recovery_codes[owner].remove(code)
        actor.passed_authenticator.add(owner)
    else:
        code = A_RECOVERY_CODE_GUESS
    return actor.client.post(RECOVERY_CODE_STEP, {"code": code})


def _note_recovery_codes(actor, response):
    """After setting up an authenticator the portal shows the new recovery codes once."""
    if not redirects_to(response, RECOVERY_CODES_PAGE):
        return response
    page = actor.client.get(RECOVERY_CODES_PAGE)
    account = actor.session_account()
    codes = RECOVERY_CODE_RE.findall(page.content.decode())
    if account is not None and codes:
        actor.recovery_codes[account.pk] = codes
    return response


def enrol_an_authenticator(actor):
    """Set up an authenticator app on the signed-in account (scan the code, type it)."""
    page = actor.client.get(AUTHENTICATOR_SETUP)
    account = actor.session_account()
    device = TOTPDevice.objects.filter(user=account, confirmed=False).first() if account else None
    if page.status_code != 200 or device is None:
        return page
    actor.authenticators.append(device)
    response = actor.client.post(AUTHENTICATOR_SETUP, {"code": _authenticator_code(actor, device)})
    return _note_recovery_codes(actor, response)


def set_password(actor, password):
    data = {"new_password1": password, "new_password2": password}
    response = actor.client.post(ACCOUNT_PASSWORD, data)
    if redirects_to(response, AUTHENTICATOR_SETUP):  # the clinic wants an authenticator first
        enrol_an_authenticator(actor)
        response = actor.client.post(ACCOUNT_PASSWORD, data)
    return response


def sign_out(actor):
    return actor.client.post(SIGN_OUT)


def password_sign_in(actor, *, login, password):
    response = actor.client.post(PASSWORD_SIGN_IN, {"login": login, "password": password})
    return after_first_factor(actor, response)


def an_account_of_ones_own(actor, typed, *, with_password):
    """The attacker registers the spelling they typed (or, when its code does not reach
    them, their own address of that kind) under a new ID; the holder already has their
    account, and signs in to it to set a password if it has none."""
    if actor.holder:
        if with_password and not actor.world.victim_has_password:
            passcode_sign_in(actor, id_number=VICTIM_ID, contact_type="email", contact=actor.email)
            set_password(actor, actor.password)
            sign_out(actor)
        return
    kind = typed.contact_type
    for id_number, contact in zip(
        ATTACKER_IDS, (typed.contact, actor.own_contact(kind)), strict=True
    ):
        passcode_sign_in(actor, id_number=id_number, contact_type=kind, contact=contact)
        if actor.session_account() is not None:
            break
    if with_password:
        set_password(actor, actor.password)
    sign_out(actor)


def chart_of_ones_own(actor, typed):
    """The actor's chart at the clinic: the victim's for the holder; for the attacker, one
    the front desk enters with the contact the attacker gives them (None if the clinic
    cannot store it)."""
    if actor.holder:
        return actor.world.victim_chart
    contacts = {"email": actor.email, "mobile": actor.mobile}
    contacts["email" if typed.contact_type == "email" else "mobile"] = typed.contact
    try:
        with transaction.atomic():
            chart = PatientFactory(
                clinic=actor.world.clinic,
                first_name="Mallory",
                last_name="Attacker",
                date_of_birth=actor.dob,
                **contacts,
            )
            PatientIdentifierFactory(patient=chart, number=ATTACKER_IDS[0])
    except (ValidationError, ValueError):  # refused at data entry
        return None
    return chart


# --- The paths --------------------------------------------------------------------------


def passcode_with_the_victims_id(actor, typed):
    """ID + contact + one time passcode, with (a spelling of) the victim's ID."""
    return passcode_sign_in(
        actor, id_number=typed.id_number, contact_type=typed.contact_type, contact=typed.contact
    )


def passcode_then_a_recovery_code(actor, typed):
    """ID + contact + one time passcode with (a spelling of) the victim's ID, then a
    recovery code where the authenticator's code is asked (one the actor saw, or a
    guess)."""
    actor.prefers_recovery_code = True
    return passcode_with_the_victims_id(actor, typed)


def password_then_a_recovery_code(actor, typed):
    """A password the actor set on an account they control, then a recovery code at the
    authenticator step."""
    an_account_of_ones_own(actor, typed, with_password=True)
    actor.prefers_recovery_code = True
    return password_sign_in(actor, login=typed.contact, password=actor.password)


def passcode_with_an_unknown_id_then_registration(actor, typed):
    """ID + contact + one time passcode with an ID no chart has: the self-registration."""
    return passcode_sign_in(
        actor, id_number=ATTACKER_IDS[0], contact_type=typed.contact_type, contact=typed.contact
    )


def password_on_an_account_of_ones_own(actor, typed):
    """A password the actor set on an account they control, with the login they typed."""
    an_account_of_ones_own(actor, typed, with_password=True)
    return password_sign_in(actor, login=typed.contact, password=actor.password)


def password_reset(actor, typed):
    """A reset link for the login they typed (followed if it reached them), a new password,
    then a password sign-in with it."""
    an_account_of_ones_own(actor, typed, with_password=False)
    mark = actor.world.post.mark()
    response = actor.client.post(RESET, {"login": typed.contact})
    link = actor.read(mark, RESET_LINK_RE)
    if link is None:
        return response
    actor.client.get(link.group(0))
    response = actor.client.post(
        RESET_SET, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    if not redirects_to(response, PASSWORD_SIGN_IN):
        return response
    return password_sign_in(actor, login=typed.contact, password=NEW_PASSWORD)


def invitation_acceptance(actor, typed):
    """Staff invite the actor's own chart by the contact on file; the actor opens the link,
    confirms their date of birth, and accepts (signing in first if the page asks)."""
    chart = chart_of_ones_own(actor, typed)
    if chart is None:
        return None
    mark = actor.world.post.mark()
    try:
        with TestCase.captureOnCommitCallbacks(execute=True):
            invitations.invitation_send(
                patient=chart, channel=typed.contact_type, sent_by=actor.world.staff
            )
    except (invitations.MissingContact, invitations.ChannelDisabled):
        return None
    link = actor.read(mark, INVITATION_LINK_RE)
    if link is None:
        return None
    c = actor.client
    c.get(link.group(0))
    response = c.post(INVITATION, {"date_of_birth": actor.dob.isoformat()})
    if redirects_to(response, INVITATION):
        response = c.get(INVITATION)
    page = response.content.decode()
    if 'name="new_password1"' in page:
        password = {"new_password1": actor.password, "new_password2": actor.password}
        return c.post(INVITATION, {"method": "password", **password, "terms": "on"})
    if f'href="{PASSWORD_SIGN_IN}"' in page:
        # "Sign in to add this access": with the chart's ID and the invited contact.
        id_number = VICTIM_ID if actor.holder else ATTACKER_IDS[0]
        response = passcode_sign_in(
            actor, id_number=id_number, contact_type=typed.contact_type, contact=typed.contact
        )
        if response.status_code != 200 or 'name="terms"' not in response.content.decode():
            return response
    elif 'name="terms"' not in page:
        return response  # refused
    return c.post(INVITATION, {"terms": "on"})
