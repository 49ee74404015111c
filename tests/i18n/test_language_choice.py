"""Which language a person gets.

1. The language chosen with the switch on every page (kept in a host-only cookie).
2. Once signed in, the preferred language on their chart.
3. Otherwise the browser's Accept-Language.
"""

import pytest
from django.conf import settings

from tests.clients import host_client
from tests.factories import TEST_PASSWORD, portal_settings_of
from tests.i18n.french import ROSE_EMAIL, ROSE_ID, ROSE_MOBILE, SWITCH_URL, choose
from tests.patients.flows import sign_in

pytestmark = pytest.mark.django_db

FRENCH_BROWSER = "fr-CA,fr;q=0.9,en;q=0.5"
ENGLISH_BROWSER = "en-CA,en;q=0.9"
COOKIE = settings.LANGUAGE_COOKIE_NAME


def _lang(response):
    html = response.content.decode()
    return "fr" if '<html lang="fr">' in html else "en" if '<html lang="en">' in html else None


def _sign_in_rose(c):
    answer = sign_in(c, id_number=ROSE_ID, contact=ROSE_MOBILE)
    assert answer.status_code == 302 and answer["Location"] == "/portal/", answer
    return answer


# --- 3. The browser ------------------------------------------------------------------


def test_a_french_browser_gets_the_sign_in_page_in_french(clinic):
    response = host_client("demo").get("/portal/", HTTP_ACCEPT_LANGUAGE=FRENCH_BROWSER)
    html = response.content.decode()
    assert _lang(response) == "fr"
    assert response["Content-Language"] == "fr"
    assert "Étape 1 sur 4" in html and "Type de pièce d&#x27;identité" in html
    assert "Step 1 of 4" not in html


def test_an_english_browser_gets_the_sign_in_page_in_english(clinic):
    response = host_client("demo").get("/portal/", HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    assert _lang(response) == "en"
    assert "Step 1 of 4" in response.content.decode()


def test_a_browser_asking_for_no_language_we_have_gets_english(clinic):
    response = host_client("demo").get("/portal/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    assert _lang(response) == "en"


# --- 1. The switch -------------------------------------------------------------------


def test_the_switch_beats_the_browser_and_returns_to_the_same_page(clinic):
    c = host_client("demo")
    response = choose(c, "fr", "/portal/sign-in/password/?x=1")
    assert response["Location"] == "/portal/sign-in/password/?x=1"
    page = c.get("/portal/sign-in/password/", HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    assert _lang(page) == "fr"
    assert "Mot de passe oublié?" in page.content.decode()
    choose(c, "en")
    assert _lang(c.get("/portal/", HTTP_ACCEPT_LANGUAGE=FRENCH_BROWSER)) == "en"


def test_the_choice_is_kept_in_a_host_only_cookie_for_a_year(clinic):
    response = choose(host_client("demo"), "fr")
    cookie = response.cookies[COOKIE]
    assert cookie.value == "fr"
    assert cookie["domain"] == ""  # host-only: never sent to another clinic's host
    assert cookie["path"] == "/"
    assert cookie["max-age"] == 365 * 24 * 60 * 60
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_the_switch_does_not_send_people_to_another_site(clinic):
    c = host_client("demo")
    response = c.post(SWITCH_URL, {"language": "fr", "next": "https://evil.example/portal/"})
    assert "evil.example" not in response.get("Location", "")


def test_the_switch_needs_the_page_csrf_token(clinic):
    c = host_client("demo", enforce_csrf_checks=True)
    assert c.post(SWITCH_URL, {"language": "fr", "next": "/portal/"}).status_code == 403
    page = c.get("/portal/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    answer = c.post(
        SWITCH_URL, {"language": "fr", "next": "/portal/", "csrfmiddlewaretoken": token}
    )
    assert answer.status_code == 302 and answer.cookies[COOKIE].value == "fr"


def test_an_unknown_language_changes_nothing(clinic):
    c = host_client("demo")
    c.post(SWITCH_URL, {"language": "xx", "next": "/portal/"})
    assert COOKIE not in c.cookies
    assert _lang(c.get("/portal/", HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)) == "en"


# --- 2. The chart's preferred language -------------------------------------------------


def test_a_french_preferring_patient_gets_french_pages_after_signing_in(rose):
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    assert _lang(c.get("/portal/")) == "en"
    _sign_in_rose(c)
    home = c.get("/portal/")
    assert _lang(home) == "fr"
    assert "Bonjour Rose" in home.content.decode()
    assert _lang(c.get("/portal/account/")) == "fr"
    assert _lang(c.get("/portal/my-information/")) == "fr"


def test_the_preference_also_applies_after_a_password_sign_in(rose):
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    answer = c.post("/portal/sign-in/password/", {"login": ROSE_EMAIL, "password": TEST_PASSWORD})
    assert answer.status_code == 302
    assert _lang(c.get("/portal/")) == "fr"


def test_the_preference_beats_the_browser(rose, rose_chart):
    rose_chart.preferred_language = "en"
    rose_chart.save(update_fields=["preferred_language"])
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=FRENCH_BROWSER)
    assert _lang(c.get("/portal/")) == "fr"
    _sign_in_rose(c)
    assert _lang(c.get("/portal/")) == "en"


def test_the_switch_overrides_the_preference_for_the_rest_of_the_visit(rose):
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    _sign_in_rose(c)
    assert _lang(c.get("/portal/")) == "fr"
    response = choose(c, "en", "/portal/appointments/")
    assert response["Location"] == "/portal/appointments/"
    assert _lang(c.get("/portal/")) == "en"
    assert _lang(c.get("/portal/account/")) == "en"
    choose(c, "fr")
    assert _lang(c.get("/portal/")) == "fr"


def test_a_language_chosen_before_signing_in_is_kept(rose, rose_chart):
    rose_chart.preferred_language = "en"
    rose_chart.save(update_fields=["preferred_language"])
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    choose(c, "fr")
    _sign_in_rose(c)
    assert _lang(c.get("/portal/")) == "fr"


def test_messages_shown_right_after_signing_in_use_the_preference(rose, clinic):
    portal_settings_of(clinic, mfa_required=True)
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    c.post("/portal/sign-in/password/", {"login": ROSE_EMAIL, "password": TEST_PASSWORD})
    page = c.get("/portal/account/authenticator/").content.decode()
    assert "Votre clinique demande à chaque patient" in page


def test_after_signing_out_the_next_person_gets_their_own_browser_language(rose):
    c = host_client(committing=True, HTTP_ACCEPT_LANGUAGE=ENGLISH_BROWSER)
    _sign_in_rose(c)
    assert _lang(c.get("/portal/")) == "fr"
    c.post("/portal/sign-out/")
    assert _lang(c.get("/portal/")) == "en"
