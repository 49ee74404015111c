"""The sign-in invariant, over every sign-in path, with Hypothesis.

    A session for portal account A exists only if the flow
    1. proved a destination that reaches one of A's sign-in contacts (A's email or mobile),
    2. passed A's authenticator (a confirmed TOTP device) when A has one, and
    3. when the clinic requires an authenticator and A has none yet, is restricted to
       enrolling one: every other portal page redirects to the authenticator set-up page.

The victim has a chart (health card and date of birth), an email and a mobile, perhaps a
password and an authenticator; the clinic perhaps requires an authenticator. An attacker
types spellings of the victim's email, mobile and ID number (case, dotless ı, Turkish İ,
Cyrillic and Greek look-alikes, full-width forms, the Kelvin sign, long s, ligatures,
invisible characters, spaces, punycode; national and international numbers, other
scripts' digits) into every path in ``PATHS``, reading the codes and links that reach any
mailbox or phone but the victim's (``signin_paths`` models where they land). The invariant
is checked for every session the attacker's browser held. The holder, typing a spelling
that reaches their own mailbox or phone, ends in their own account or without a session,
never in another account.

A new sign-in path joins every property by one entry in ``PATHS``: a function
``walk(actor, typed)`` in ``signin_paths`` and who it signs in when they type their own
contact exactly (the positive control that keeps the path from passing vacuously).

Examples per path and property: ``SIGNIN_INVARIANT_EXAMPLES`` (default 12). No example
database is written to the working tree.
"""

import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import idna
import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from clinics.models import Clinic
from portal.notifications import sms
from tests.clock import NOW
from tests.security import signin_paths as paths
from tests.security.signin_paths import (
    ATTACKER_IDS,
    AUTHENTICATOR_SETUP,
    OTHER_PAGES,
    VICTIM_EMAILS,
    VICTIM_ID,
    VICTIM_MOBILE,
    Typed,
    Victim,
    mailbox,
    redirects_to,
)

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Path:
    walk: Callable
    # Who ends signed in to their own account when they type their own contact exactly.
    works_for: tuple[str, ...]

    def __str__(self):
        return self.walk.__name__


PATHS = [
    Path(paths.passcode_with_the_victims_id, works_for=("holder",)),
    Path(paths.passcode_with_an_unknown_id_then_registration, works_for=("attacker",)),
    Path(paths.password_on_an_account_of_ones_own, works_for=("holder", "attacker")),
    Path(paths.password_reset, works_for=("holder", "attacker")),
    Path(paths.invitation_acceptance, works_for=("holder", "attacker")),
    # A recovery code stands in for the authenticator's code (only the holder has one).
    Path(paths.passcode_then_a_recovery_code, works_for=("holder",)),
    Path(paths.password_then_a_recovery_code, works_for=("holder",)),
]
# The authenticator step is part of every path: each types the code its actor's app shows
# (the attacker's own app, or a guess) whenever the portal asks for one.


# --- The invariant ---------------------------------------------------------------------


def assert_signin_invariant(world, actor):
    for signed_in in actor.client.sign_ins:
        account = signed_in.account
        assert world.sign_in_contacts(account) & signed_in.proved, (
            f"the {actor.name} holds a session for {_describe(world, account)} without "
            f"proving any of its contacts (proved: {sorted(signed_in.proved)})"
        )
        if account.pk in world.authenticator_at_start:
            assert account.pk in signed_in.passed_authenticator, (
                f"the {actor.name} holds a session for {_describe(world, account)} "
                "without its authenticator code"
            )
    account = actor.session_account()
    if account is not None and world.mfa_required and not _has_authenticator(account):
        assert _restricted_to_enrolment(actor), (
            f"the clinic requires an authenticator, yet {_describe(world, account)} has "
            f"none and the {actor.name}'s session opens other portal pages"
        )


def _describe(world, account):
    if account.pk == world.victim.pk:
        return "the victim's account"
    return f"account {account.pk} ({account.email or '-'}, {account.phone or '-'})"


def _tell_hypothesis_what_happened(world, actor):
    """Statistics (``--hypothesis-show-statistics``): how far the examples got."""
    accounts = {s.account.pk for s in actor.client.sign_ins}
    event(f"{actor.name} used a code or link: {actor.letters_used > 0}")
    event(f"{actor.name} signed in to the victim: {world.victim.pk in accounts}")
    event(f"{actor.name} signed in to another account: {bool(accounts - {world.victim.pk})}")


def _has_authenticator(account):
    return TOTPDevice.objects.filter(user=account, confirmed=True).exists()


def _restricted_to_enrolment(actor):
    return all(redirects_to(actor.client.get(page), AUTHENTICATOR_SETUP) for page in OTHER_PAGES)


# --- What people type ------------------------------------------------------------------
# Each family maps a character (or pair) to spellings that pass for it. A spelling changes
# up to two places, each from a family drawn first, so that rare but dangerous families
# (letters that case-fold to ASCII) come up as often as the large ones.

FULL_WIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
PADDING = ["", " ", "  ", "\t", "\u00a0", "\u3000"]
EMAIL_FAMILIES = {
    "ASCII case": {ch: [ch.upper()] for ch in "abcdefghijklmnopqrstuvwxyz"},
    # Dotless ı and Turkish İ, long s, Kelvin sign: ASCII after some case mapping.
    "case-folds to ASCII": {"i": ["ı", "İ"], "s": ["ſ"], "k": ["\u212a"], "I": ["ı", "İ"]},
    "Cyrillic": {
        **{"a": ["а"], "c": ["с"], "e": ["е"], "i": ["і"], "o": ["о"], "p": ["р"]},
        **{"s": ["ѕ"], "x": ["х"], "y": ["у"], "k": ["к"], "l": ["ӏ"]},
    },
    "Greek": {"a": ["α"], "o": ["ο"], "p": ["ρ"], "v": ["ν"], "k": ["κ"], "x": ["χ"], "i": ["ι"]},
    "full-width": {ch: [wide] for ch, wide in FULL_WIDTH.items()},
    "ligatures": {"ff": ["ﬀ"], "fi": ["ﬁ"], "fl": ["ﬂ"], "st": ["ﬆ", "ﬅ"]},
    "accents and numerals": {"i": ["í", "ⅰ"], "o": ["ö"], "e": ["ё"], "l": ["ⅼ"]},
    # Plain ASCII, and another address: a mailbox the attacker can own.
    "another address, digits": {"o": ["0"], "l": ["1"], "i": ["1"]},
    "another address, letters": {"i": ["j"], "v": ["w"], "k": ["c"], "e": ["a"]},
    "another address, pairs": {"m": ["rn"], "ff": ["f"], "st": ["ts"], "ia": ["ai"]},
    "separators": {"@": ["＠", "﹫"], ".": ["．", "。", "｡"]},
}
DIGITS = [
    "0123456789",
    "０１２３４５６７８９",  # full-width
    "٠١٢٣٤٥٦٧٨٩",  # Arabic-Indic
    "۰۱۲۳۴۵۶۷۸۹",  # Extended Arabic-Indic
    "०१२३४५६७८९",  # Devanagari
]
MOBILE_FAMILIES = {
    "letters for digits": {"0": ["O", "o", "О"], "1": ["l", "I"], "5": ["S"]},
    "dashes and plus": {"-": ["‐", "−", "–"], "+": ["＋"]},
    "another number": {"0123": ["0124", "0132"]},
}
MOBILE_LAYOUTS = [
    "+1{a}{b}{c}",
    "{a} {b} {c}",
    "({a}) {b}-{c}",
    "{a}-{b}-{c}",
    "{a}.{b}.{c}",
    "{a}{b}{c}",
    "1 {a} {b} {c}",
    "1-{a}-{b}-{c}",
    "+1 ({a}) {b}-{c}",
    "+1 {a} {b} {c}",
    "001 {a} {b} {c}",
    "011 1 {a} {b} {c}",
]
ID_LAYOUTS = [
    "{a} {b} {c} {l}",
    "{a}-{b}-{c}-{l}",
    "{a}{b}{c}{l}",
    "{a}.{b}.{c}.{l}",
    "{a}/{b}/{c}{l}",
]
ID_FAMILIES = {
    "case": {"A": ["a"], "B": ["b"]},
    "Cyrillic": {"A": ["А"], "B": ["В"]},
    "Greek": {"A": ["Α"], "B": ["Β"]},
    "full-width": {"A": ["Ａ"], "B": ["Ｂ"]},
}


def _uts46(text):
    return idna.uts46_remap(text, std3_rules=False, transitional=False)


# In a domain, these spellings are mapped back by IDNA (UTS 46): they reach the same host.
SAME_HOST = {"IDNA maps it back": {}}
for _family in EMAIL_FAMILIES.values():
    for _key, _swaps in _family.items():
        for _swap in [*_swaps, *(_key + mark for mark in INVISIBLE)]:
            if _uts46(_swap) == _uts46(_key):
                SAME_HOST["IDNA maps it back"].setdefault(_key, []).append(_swap)


@st.composite
def swapped(draw, text, families, most=2):
    """``text`` with up to ``most`` characters (or pairs) replaced by look-alikes."""
    for _ in range(draw(st.integers(0, most))):
        family = draw(st.sampled_from(list(families.values())))
        options = [
            (at, key, swap)
            for key, swaps in family.items()
            for at in range(len(text))
            if text.startswith(key, at)
            for swap in swaps
        ]
        if options:
            at, key, swap = draw(st.sampled_from(options))
            text = text[:at] + swap + text[at + len(key) :]
    return text


@st.composite
def noisy(draw, text, inserts):
    """``text`` perhaps (one time in three) with an invisible character or a space inside,
    and padding."""
    if draw(st.sampled_from([False, False, True])):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(inserts)) + text[at:]
    return draw(st.sampled_from(PADDING)) + text + draw(st.sampled_from(PADDING))


def _full_width(text):
    return "".join(FULL_WIDTH.get(ch, ch) for ch in text)


def _domain_forms(domain):
    ascii_form = idna.encode(domain, uts46=True).decode()
    return [domain, domain.upper(), ascii_form, idna.decode(ascii_form), ascii_form.upper()]


@st.composite
def email_spellings(draw, address):
    local, domain = address.split("@")
    local = draw(st.sampled_from([local, local.upper(), local.title(), _full_width(local)]))
    domain = draw(st.sampled_from([*_domain_forms(domain), _full_width(domain)]))
    text = draw(swapped(f"{local}@{domain}", EMAIL_FAMILIES))
    return draw(noisy(text, [*INVISIBLE, " "]))


@st.composite
def email_spellings_that_reach(draw, address):
    """Spellings delivered to the same mailbox: the local part's ASCII case, the domain's
    case, punycode or Unicode form, and characters IDNA maps back."""
    local, domain = address.split("@")
    local = draw(st.sampled_from([local, local.upper(), local.title()]))
    domain = draw(swapped(draw(st.sampled_from(_domain_forms(domain))), SAME_HOST))
    before, after = draw(st.sampled_from(PADDING[:3])), draw(st.sampled_from(PADDING[:3]))
    return f"{before}{local}@{domain}{after}"


def _in_digits(text, digits):
    return text.translate(str.maketrans("0123456789", digits))


@st.composite
def mobile_spellings(draw, number=VICTIM_MOBILE, *, lookalikes=True):
    national = number.removeprefix("+1")
    layout = draw(st.sampled_from(MOBILE_LAYOUTS))
    text = layout.format(a=national[:3], b=national[3:6], c=national[6:])
    if lookalikes:
        text = draw(swapped(text, MOBILE_FAMILIES))
    text = _in_digits(text, draw(st.sampled_from(DIGITS)))
    if lookalikes:
        return draw(noisy(text, [*INVISIBLE, " "]))
    return draw(st.sampled_from(PADDING[:3])) + text


@st.composite
def id_spellings(draw, number=VICTIM_ID, *, lookalikes=True):
    """The ID in another layout, letter case and digits; the attacker's also with letters
    of other scripts and invisible characters."""
    digits, letters = number[:-3].replace(" ", ""), number[-2:]
    layout = draw(st.sampled_from(ID_LAYOUTS))
    text = layout.format(a=digits[:4], b=digits[4:7], c=digits[7:], l=letters)
    families = ID_FAMILIES if lookalikes else {"case": ID_FAMILIES["case"]}
    text = _in_digits(draw(swapped(text, families)), draw(st.sampled_from(DIGITS)))
    return draw(noisy(text, [*INVISIBLE, " ", "-"] if lookalikes else [" ", "-"]))


victims = st.builds(
    Victim,
    email=st.sampled_from(VICTIM_EMAILS),
    password=st.booleans(),
    authenticator=st.booleans(),
    mfa_required=st.booleans(),
)


@st.composite
def attempts(draw, *, by_the_holder=False):
    """A victim, and what the attacker (or the holder) types: a spelling of the victim's
    email or mobile, and of the victim's ID number."""
    victim = draw(victims)
    kind = draw(st.sampled_from(["email", "sms"]))
    if kind == "email":
        spellings = email_spellings_that_reach if by_the_holder else email_spellings
        contact = draw(spellings(victim.email))
    else:
        contact = draw(mobile_spellings(lookalikes=not by_the_holder))
    if by_the_holder:
        reaches = {mailbox("email", victim.email), mailbox("sms", VICTIM_MOBILE)}
        # Only spellings that real delivery brings to the holder's own mailbox or phone.
        assume(mailbox(kind, contact) in reaches)
    id_number = draw(id_spellings(lookalikes=not by_the_holder))
    return victim, Typed(contact_type=kind, contact=contact, id_number=id_number)


# --- One example's world ---------------------------------------------------------------

SETTINGS = settings(
    max_examples=int(os.environ.get("SIGNIN_INVARIANT_EXAMPLES", "12")),
    deadline=None,
    database=None,
    # Shrinking every distinct failure of a path takes minutes; one at a time keeps a run
    # on a broken tree short. SIGNIN_INVARIANT_ALL_BUGS=1 reports them all.
    report_multiple_bugs=os.environ.get("SIGNIN_INVARIANT_ALL_BUGS") == "1",
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each example builds its rows and rolls back
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


def _empty_outboxes_and_cache():
    sms.outbox.clear()
    mail.outbox.clear()
    cache.clear()


@contextmanager
def a_world(clinic, staff, victim):
    """The victim's rows in a transaction rolled back after the example, the clock stopped
    at NOW, and empty outboxes and cache (tenant entries, rate limits, sessions)."""
    _empty_outboxes_and_cache()
    try:
        with time_machine.travel(NOW, tick=False) as clock, transaction.atomic():
            yield paths.world_with_a_victim(
                clinic=Clinic.objects.get(pk=clinic.pk), staff=staff, clock=clock, victim=victim
            )
            transaction.set_rollback(True)
    finally:
        _empty_outboxes_and_cache()


# Examples pinned so that every run tries them: each once broke the invariant (and a
# failing pinned example is reported at once, without a long search and shrink).
DOTLESS_I = Typed("email", "olıvia.kristoff@example.com", VICTIM_ID)
LONG_S = Typed("email", "olivia.kriſtoff@example.com", VICTIM_ID)
FULL_WIDTH_ID = "４５６７ ８９１ ２３４ AB"
ANOTHER_ADDRESS = Typed("email", "o1ivia.kristoff@example.com", FULL_WIDTH_ID)
EXACTLY = Typed("email", VICTIM_EMAILS[0], VICTIM_ID)
PUNYCODE = Typed("email", "olivia@xn--bcher-kva.example", VICTIM_ID)
EXACT_MOBILE = Typed("sms", VICTIM_MOBILE, FULL_WIDTH_ID)


# --- The properties ----------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS, ids=str)
@SETTINGS
@given(attempt=attempts())
@example(attempt=(Victim(), DOTLESS_I))
@example(attempt=(Victim(password=True, authenticator=True), LONG_S))
@example(attempt=(Victim(mfa_required=True), ANOTHER_ADDRESS))
def test_no_session_an_attacker_gets_by_typing_the_victims_contact_breaks_the_invariant(
    clinic, front_desk, path, attempt
):
    victim, typed = attempt
    with a_world(clinic, front_desk, victim) as world:
        attacker = paths.attacker(world)
        path.walk(attacker, typed)
        _tell_hypothesis_what_happened(world, attacker)
        assert_signin_invariant(world, attacker)


@pytest.mark.parametrize("path", PATHS, ids=str)
@SETTINGS
@given(attempt=attempts(by_the_holder=True))
@example(attempt=(Victim(email=VICTIM_EMAILS[1]), PUNYCODE))
@example(attempt=(Victim(authenticator=True), EXACT_MOBILE))
@example(attempt=(Victim(mfa_required=True), EXACTLY))
def test_the_holder_typing_a_spelling_that_reaches_them_ends_in_their_account_or_none(
    clinic, front_desk, path, attempt
):
    victim, typed = attempt
    with a_world(clinic, front_desk, victim) as world:
        holder = paths.holder(world)
        response = path.walk(holder, typed)
        _tell_hypothesis_what_happened(world, holder)
        assert_signin_invariant(world, holder)
        others = [
            _describe(world, s.account)
            for s in holder.client.sign_ins
            if s.account.pk != world.victim.pk
        ]
        assert not others, f"the holder typed {typed.contact!r} and was signed in to {others}"
        astray = {
            letter.mailbox
            for letter in world.post.since((0, 0))
            if letter.mailbox not in world.victims_mailboxes
        }
        assert not astray, f"the holder typed {typed.contact!r}; their code went to {astray}"
        assert response is None or response.status_code < 500


CONTROLS = [
    pytest.param(path, who, kind, id=f"{path}-{who}-{kind}")
    for path in PATHS
    for who in path.works_for
    for kind in ("email", "sms")
]


@pytest.mark.parametrize(("path", "who", "kind"), CONTROLS)
def test_each_path_signs_its_rightful_user_in_to_their_own_account(
    clinic, front_desk, path, who, kind
):
    """The positive control: typed exactly, each path works (the holder's authenticator
    step included), so the properties above cannot pass because a path is broken."""
    victim = Victim(password=True, authenticator=who == "holder")
    with a_world(clinic, front_desk, victim) as world:
        actor = paths.holder(world) if who == "holder" else paths.attacker(world)
        id_number = VICTIM_ID if who == "holder" else ATTACKER_IDS[0]
        path.walk(actor, Typed(kind, actor.own_contact(kind), id_number))
        assert_signin_invariant(world, actor)
        account = actor.session_account()
        assert account is not None, f"{path} did not sign the {who} in"
        assert (account.pk == world.victim.pk) == (who == "holder"), _describe(world, account)


def test_the_delivery_model_tells_the_victims_mailbox_from_look_alikes():
    victims_mailbox = mailbox("email", "olivia@example.com")
    for same in ["OLIVIA@Example.COM", " olivia@EXAMPLE.com ", "olivia@ｅxample.com"]:
        assert mailbox("email", same) == victims_mailbox, same
    for other in [
        "olıvia@example.com",
        "olivia@examp1e.com",
        "оlivia@example.com",
        "ｏｌｉｖｉａ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "olivia@gmaıl.com",
    ]:
        assert mailbox("email", other) != victims_mailbox, other
    assert mailbox("email", "olivia@bücher.example") == mailbox(
        "email", "olivia@xn--bcher-kva.example"
    )
    assert mailbox("sms", "(613) 555-0123") == mailbox("sms", VICTIM_MOBILE)
    assert mailbox("sms", "６１３ ５５５ ０１２３") == mailbox("sms", VICTIM_MOBILE)
    assert mailbox("sms", "613 555 0124") != mailbox("sms", VICTIM_MOBILE)
