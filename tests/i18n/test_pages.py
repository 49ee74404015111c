"""Every portal page reads in French, with the language switch on it.

Each page is rendered twice, in English and in French (chosen with the switch). On the
French page every text a person reads or hears must differ from the English page's,
unless it is the people's or clinic's own data or a word French spells the same way
("Messages", "Type"): so an untranslated string, a string not marked for translation or
a date in English fails the test, on pages present and future.
"""

import re

import pytest

from tests.clients import host_client, portal_client
from tests.factories import portal_settings_of
from tests.i18n.french import DATA, ROSE_ID, SWITCH_URL, choose, ui_texts, words_only

pytestmark = pytest.mark.django_db

# Words written the same in both languages.
SAME_IN_BOTH = {
    "Messages",
    "Message",
    "Type",
    "Patient",
    "Identification",
    "English",
    "Google",
    "Microsoft",
    "Authenticator",
    "Pages",
    "minutes",
    "Sessions",
    "Allergies",  # the health record's sections in the copy of the record
    "Documents",
    "Français",  # language names are written in their own language
}
# Codes and keys shown to be typed in (an authenticator's secret).
CODE_RE = re.compile(r"^[A-Z0-9 ]+$")
EXTRA_DATA = ["J8X 1A1", "J8Y 2B2", "rose", "example", "com"]


def _english_left(english_html, french_html):
    """Texts of the English page that the French page shows unchanged."""
    french = ui_texts(french_html)
    return {
        text
        for text in ui_texts(english_html)
        if text in french
        and not CODE_RE.match(text)
        and not set(words_only(text, DATA + EXTRA_DATA).split()) <= SAME_IN_BOTH
    }


def _assert_switch(html, next_url, *, to="en", label="English"):
    opening = rf'<form[^>]*action="{re.escape(SWITCH_URL)}"[^>]*>'
    form = re.search(opening + "(.*?)</form>", html, re.S)
    assert form, "no language switch on the page"
    tag = re.search(opening, html).group(0)
    assert 'method="post"' in tag
    assert re.search(r'aria-label="[^"]+"', tag), "the switch has no accessible name"
    inner = form.group(1)
    assert 'name="csrfmiddlewaretoken"' in inner
    assert f'name="next" value="{next_url}"' in inner.replace("&amp;", "&")
    button = re.search(r"<button([^>]*)>([^<]*)</button>", inner)
    assert button, "the switch has no button"
    assert f'value="{to}"' in button.group(1) and f'lang="{to}"' in button.group(1)
    assert button.group(2).strip() == label


def _render_both(make_client, method, path, data=None, prepare=None):
    pages = {}
    for language in ("en", "fr"):
        c = make_client()
        choose(c, language, path)
        if prepare:
            prepare(c)
        response = c.post(path, data or {}) if method == "post" else c.get(path)
        assert response.status_code == 200, (language, path, response.status_code)
        pages[language] = response.content.decode()
    return pages


def _book_query(rows):
    kind = rows["upcoming"].appointment_type_id
    return f"/portal/appointments/book/?appointment_type={kind}&week=2030-03-05"


def _slot(rows):
    appointment = rows["upcoming"]
    return {
        "appointment_type": appointment.appointment_type_id,
        "slot": f"{appointment.provider_id}|2030-03-05T14:00:00+00:00",
    }


def _ask_for_new_email(c):
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        c.post("/portal/my-information/change/", _chart_form(c, email="rose.new@example.com"))


def _chart_form(c, **changes):
    from patients import demographics
    from patients.models import Patient

    values = demographics.chart_values(Patient.objects.get(first_name="Rose"))
    values.update(changes)
    return values


# (what the page is, method, path or a function of the fixture's rows, POST data,
#  a preparation step, French the page must show)
SIGNED_IN_PAGES = [
    ("home", "get", "/portal/", None, None,
     ["Bonjour Rose", "Personnes pour qui vous pouvez agir"]),
    ("appointments", "get", "/portal/appointments/", None, None, ["À venir", "Passés"]),
    ("booking", "get", "/portal/appointments/book/", None, None, ["Prendre un rendez-vous"]),
    ("free times", "get", _book_query, None, None, ["Semaine du lundi 4 mars", "mardi 5 mars"]),
    ("booking confirm", "post", "/portal/appointments/book/confirm/", _slot, None,
     ["Confirmer votre rendez-vous", "Raison de la visite"]),
    ("cancelling", "get", lambda rows: f"/portal/appointments/{rows['upcoming'].pk}/cancel/",
     None, None, ["Annuler le rendez-vous", "Garder le rendez-vous"]),
    ("messages", "get", "/portal/messages/", None, None, ["Nouveau message", "non lu"]),
    ("new message", "get", "/portal/messages/new/", None, None, ["Sujet", "Catégorie"]),
    ("a conversation", "get", lambda rows: f"/portal/messages/{rows['thread'].pk}/", None, None,
     ["Envoyer la réponse", "Tous les messages"]),
    ("my information", "get", "/portal/my-information/", None, None,
     ["Mes renseignements", "Demandes des patients", "Note de la clinique", "Refusée",
      "Code postal"]),
    ("asking for a change", "get", "/portal/my-information/change/", None, None,
     ["Demander une modification", "Langue préférée", "Cellulaire", "Courriel"]),
    ("confirming a new email", "get", "/portal/my-information/confirm/", None,
     _ask_for_new_email, ["Code à usage unique", "Confirmer"]),
    ("account", "get", "/portal/account/", None, None, ["Comment vous vous connectez", "Sécurité"]),
    ("password", "get", "/portal/account/password/", None, None, ["Nouveau mot de passe"]),
    ("authenticator", "get", "/portal/account/authenticator/", None, None,
     ["Application d'authentification", "Clé"]),
    ("activity", "get", "/portal/account/activity/", None, None, ["Activité du compte"]),
    ("my record", "get", "/portal/account/record/", None, None,
     ["Votre dossier", "Rendez-vous", "Demandes de modification de vos renseignements"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("page", "method", "path", "data", "prepare", "french"),
    SIGNED_IN_PAGES,
    ids=[p[0] for p in SIGNED_IN_PAGES],
)
def test_every_signed_in_page_reads_in_french(
    frozen, roses_portal, rose, rose_chart, page, method, path, data, prepare, french
):
    from tests.i18n.french import ROSE_EMAIL  # noqa: F401 - keeps DATA honest

    path = path(roses_portal) if callable(path) else path
    data = data(roses_portal) if callable(data) else data
    pages = _render_both(lambda: portal_client(rose, rose_chart), method, path, data, prepare)
    html = pages["fr"]
    assert '<html lang="fr">' in html
    for words in french:
        assert words.replace("'", "&#x27;") in html or words in html, f"{page}: no {words!r}"
    left = _english_left(pages["en"], html)
    assert not left, f"{page}: English left on the French page: {sorted(left)}"
    _assert_switch(html, path)
    _assert_switch(pages["en"], path, to="fr", label="Français")


SIGN_IN_PAGES = [
    ("identification", "/portal/", ["Étape 1 sur 4", "Type de pièce d'identité",
                                    "Carte d'assurance maladie"]),
    ("password sign-in", "/portal/sign-in/password/", ["Connexion", "Mot de passe oublié?"]),
    ("password reset", "/portal/password-reset/", ["Envoyer le lien"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("page", "path", "french"), SIGN_IN_PAGES, ids=[p[0] for p in SIGN_IN_PAGES]
)
def test_the_sign_in_pages_read_in_french(clinic, page, path, french):
    pages = _render_both(lambda: host_client("demo"), "get", path)
    html = pages["fr"]
    for words in french:
        assert words.replace("'", "&#x27;") in html or words in html, f"{page}: no {words!r}"
    assert not _english_left(pages["en"], html)
    _assert_switch(html, path)


def test_the_sign_in_steps_after_the_id_read_in_french(clinic, rose_chart):
    c = host_client("demo")
    choose(c, "fr")
    c.post("/portal/", {"id_type": "health-card", "id_number": ROSE_ID})
    contact = c.get("/portal/sign-in/contact/").content.decode()
    assert "Étape 2 sur 4" in contact and "Courriel ou téléphone" in contact
    c.post("/portal/sign-in/contact/", {"contact_type": "sms", "contact": "613 555 0144"})
    check = c.get("/portal/sign-in/check/").content.decode()
    assert "Vérifiez vos renseignements" in check
    assert "Carte d&#x27;assurance maladie" in check
    c.post("/portal/sign-in/check/")
    code = c.get("/portal/sign-in/code/").content.decode()
    assert "Code à usage unique" in code and "Envoyer un nouveau code" in code
    assert re.search(r"Il expire dans \d+ minutes\.", code)
    _assert_switch(code, "/portal/sign-in/code/")


def test_pages_that_explain_a_refusal_read_in_french(roses_portal, clinic, rose, rose_chart):
    portal_settings_of(clinic, booking_allowed=False, patient_messages_allowed=False)
    c = portal_client(rose, rose_chart)
    choose(c, "fr")
    refused = c.get("/portal/appointments/book/").content.decode()
    assert "La clinique ne prend pas de rendez-vous par le portail." in refused
    not_allowed = c.get("/portal/messages/new/").content.decode()
    assert "Non disponible" in not_allowed


def test_the_platform_landing_page_reads_in_french(db):
    c = host_client("localhost")
    choose(c, "fr", "/")
    html = c.get("/").content.decode()
    assert "Chaque clinique a sa propre adresse de portail." in html
    _assert_switch(html, "/")


def test_the_page_not_found_reads_in_french(clinic):
    c = host_client("demo")
    choose(c, "fr")
    response = c.get("/portal/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page introuvable" in html and '<html lang="fr">' in html
