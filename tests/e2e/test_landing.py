import pytest

from tests.factories import ClinicFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_patient_sees_their_clinics_branded_portal(page, phone_page, clinic_url, screenshot):
    ClinicFactory(slug="demo", name="Demo Family Clinic", accent_colour="#7b1fa2")
    ClinicFactory(slug="northside", name="Northside Health Centre")

    page.goto(clinic_url("demo", "/"))
    assert page.url.endswith("/portal/")
    assert page.get_by_role("heading", level=1).inner_text() == "Identification"
    assert "Demo Family Clinic" in page.locator(".brand").inner_text()
    header_colour = page.eval_on_selector(
        ".site-header", "el => getComputedStyle(el).backgroundColor"
    )
    assert header_colour == "rgb(123, 31, 162)"
    assert "Northside" not in page.content()
    screenshot(page, "landing-desktop")

    phone_page.goto(clinic_url("northside"))
    assert "Northside Health Centre" in phone_page.locator(".brand").inner_text()
    assert phone_page.get_by_label("ID Type").is_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, "the page scrolls sideways on a phone"
    screenshot(phone_page, "landing-phone")


def test_an_unknown_clinic_is_not_found(page, clinic_url):
    response = page.goto(clinic_url("nowhere"))
    assert response.status == 404
    assert "Page not found" in page.content()
