"""Emails and text messages go out in the recipient's language.

Every registered notice renders in French (subject, text and HTML), with no English
sentence left. Each place that sends one passes the right language: the chart's
preferred language for notices about a patient (representatives have none of their
own on file), and the language of the pages for sign-in codes and reset links, which
go out before anyone is known (looking the chart up first would tell an unknown
caller that an ID exists).
"""

import re

import pytest
from django.core import mail
from django.utils import translation

from portal.notifications import sms
from portal.notifications.rendering import render_notification
from tests.clients import committed, host_client
from tests.factories import (
    NotificationFactory,
    PatientAccessFactory,
    UserFactory,
    VerificationRequestFactory,
)
from tests.i18n.catalog import read_po
from tests.i18n.french import ROSE_ID, ROSE_MOBILE, choose
from tests.patients.flows import begin, last_code, sign_in
from tests.portal.outbox import RENDERABLE, use_sample_context

pytestmark = pytest.mark.django_db

ENGLISH_BROWSER = "en-CA,en;q=0.9"
FRENCH_BROWSER = "fr-CA,fr;q=0.9"
# What a text message may hold and still go as plain GSM-7 (160 characters a segment,
# not 70): French letters like ê, ç or î, and no-break spaces, would change that.
GSM_7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def _english_sentences():
    """A pattern per English message of the catalogue (placeholders match anything)."""
    patterns = []
    for entry in read_po():
        if entry.obsolete or entry.is_header:
            continue
        for source in filter(None, [entry.msgid, entry.msgid_plural]):
            if len(source) < 12 or source in entry.msgstr.values():
                continue
            parts = re.split(r"%\([^)]+\)[sd]", source)
            patterns.append((source, re.compile(".+?".join(re.escape(p) for p in parts))))
    return patterns


ENGLISH = _english_sentences()


def _render(clinic, template, channel, language, monkeypatch):
    use_sample_context(monkeypatch, template)
    row = NotificationFactory.build(
        clinic=clinic,
        channel=channel,
        recipient="+16135550123" if channel == "sms" else "someone@example.com",
        template=template,
        language=language,
    )
    rendered = render_notification(row)
    return [rendered.subject, rendered.text, rendered.html or ""]


@pytest.mark.parametrize(("template", "channel"), RENDERABLE)
def test_every_notice_renders_in_french(clinic, monkeypatch, template, channel):
    english = _render(clinic, template, channel, "en", monkeypatch)
    french = _render(clinic, template, channel, "fr", monkeypatch)
    for part, en, fr in zip(["subject", "text", "html"], english, french, strict=True):
        if not en:
            continue
        assert fr != en, f"{template} {channel} {part} is the same in French"
        left = [source for source, pattern in ENGLISH if pattern.search(en) and pattern.search(fr)]
        assert not left, f"{template} {channel} {part}: English left: {left}"
    if channel == "email":
        assert '<html lang="fr">' in french[2]


@pytest.mark.parametrize(("template", "channel"), [pair for pair in RENDERABLE if pair[1] == "sms"])
def test_french_text_messages_stay_in_the_plain_sms_alphabet(
    clinic, monkeypatch, template, channel
):
    clinic.name = "Demo Family Clinic"
    text = _render(clinic, template, channel, "fr", monkeypatch)[1]
    assert not set(text) - GSM_7, f"{template}: {sorted(set(text) - GSM_7)} in {text!r}"


# --- Sign-in codes and reset links: the language of the pages ---------------------------


def test_a_french_browser_gets_its_sign_in_code_in_french(rose):
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=FRENCH_BROWSER)
    begin(c, id_number=ROSE_ID, contact=ROSE_MOBILE)
    assert "est votre code à usage unique" in sms.outbox[-1].body
    assert last_code()


def test_the_switch_sets_the_language_of_the_sign_in_code(rose):
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    choose(c, "fr")
    begin(c, id_number=ROSE_ID, contact="rose.tremblay@example.com", contact_type="email")
    message = mail.outbox[-1]
    assert "votre code à usage unique" in message.subject
    assert "Ne le donnez jamais à personne" in message.body
    html = message.alternatives[0][0]
    assert '<html lang="fr">' in html and "Voici votre code à usage unique" in html


def test_an_english_browser_gets_its_sign_in_code_in_english(rose):
    begin(
        host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER),
        id_number=ROSE_ID,
        contact=ROSE_MOBILE,
    )
    assert "is your Demo Family Clinic portal passcode" in sms.outbox[-1].body


def test_a_signed_in_french_patient_confirms_a_new_email_with_a_french_code(rose, rose_chart):
    from patients import demographics

    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    sign_in(c, id_number=ROSE_ID, contact=ROSE_MOBILE)
    values = demographics.chart_values(rose_chart)
    values["email"] = "rose.nouveau@example.com"
    c.post("/portal/my-information/change/", values)
    message = mail.outbox[-1]
    assert message.to == ["rose.nouveau@example.com"]
    assert "votre code à usage unique" in message.subject


def test_a_reset_link_goes_in_the_language_of_the_pages(rose):
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=FRENCH_BROWSER)
    c.post("/portal/password-reset/", {"login": ROSE_MOBILE})
    assert "créez un nouveau mot de passe" in sms.outbox[-1].body


# --- Notices about a patient: the chart's preferred language ---------------------------


def test_an_appointment_notice_has_its_date_in_french(rose_chart, roses_doctor, visit_type, fiona):
    import datetime as dt

    import time_machine

    from appointments import services

    start = dt.datetime(2030, 3, 5, 14, 0, tzinfo=dt.UTC)
    with (
        time_machine.travel(start - dt.timedelta(days=7), tick=False),  # inside the window
        translation.override("en"),  # a request or worker in another language
    ):
        committed(
            services.appointment_book,
            patient=rose_chart,
            provider=roses_doctor,
            appointment_type=visit_type,
            start=start,
            booked_by=fiona,
            by_staff=True,
        )
    message = mail.outbox[-1]
    assert message.to == [rose_chart.email]
    assert message.subject == "Rendez-vous confirmé chez Demo Family Clinic"
    assert "Votre rendez-vous chez Demo Family Clinic est réservé." in message.body
    assert "Quand : 5 mars 2030, 9 h 00" in message.body
    assert "March" not in message.body and "a.m." not in message.body


@pytest.fixture
def luc(clinic, rose_chart):
    """Rose's son, who acts for her; his account has no chart (and so no language)."""
    user = UserFactory(clinic=clinic, username="luc", email="luc@example.com", phone="")
    PatientAccessFactory(user=user, patient=rose_chart, relationship="other", can_messages=True)
    return user


def test_a_representative_is_told_of_a_new_message_in_the_patients_language(rose_chart, luc, fiona):
    from messaging import services

    committed(
        services.thread_start,
        clinic=rose_chart.clinic,
        patient=rose_chart,
        subject="Rendez-vous",
        category="general",
        body="Bonjour",
        author=fiona,
    )
    told = {message.to[0]: message for message in mail.outbox}
    assert set(told) == {rose_chart.email, "luc@example.com"}
    for message in told.values():
        assert message.subject == "Demo Family Clinic : nouveau message"


def test_a_representatives_invitation_goes_in_the_patients_language(rose_chart, clinic_admin):
    from invitations import services

    committed(
        services.invitation_send,
        patient=rose_chart,
        channel="email",
        sent_by=clinic_admin,
        representative=services.Representative(
            name="Luc Tremblay", relationship="other", destination="luc@example.com"
        ),
    )
    message = mail.outbox[-1]
    assert message.to == ["luc@example.com"]
    assert "vous invite à utiliser son portail patient pour une personne" in message.body


def test_the_end_of_portal_access_is_told_in_the_patients_language(
    rose, rose_chart, luc, clinic_admin
):
    from invitations import services

    committed(services.portal_access_revoke, patient=rose_chart, revoked_by=clinic_admin)
    told = {message.to[0]: message for message in mail.outbox}
    assert set(told) == {rose.email, "luc@example.com"}
    for message in told.values():
        assert "a désactivé l'accès au portail patient" in message.body


def test_a_declined_identity_check_is_told_in_the_charts_language(rose_chart, clinic, fiona):
    from patients.demographics import verification_decline

    someone = UserFactory(clinic=clinic, username="someone", phone="+16135550111")
    verification = VerificationRequestFactory(
        patient=rose_chart, user=someone, channel="sms", destination="+16135550111"
    )
    committed(verification_decline, request=None, verification=verification, decided_by=fiona)
    assert sms.outbox[-1].to == "+16135550111"
    assert "n'a pas pu confirmer votre identité" in sms.outbox[-1].body
