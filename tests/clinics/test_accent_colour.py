"""The clinic's accent colour stays readable: white text on it, and it as text on white
and on the panel colour, reach WCAG AA (4.5:1) whatever colour the clinic chose."""

import pytest

from clinics.colours import PANEL, contrast_ratio, readable_accent
from tests.clients import host_client
from tests.factories import ClinicFactory

AA = 4.5


@pytest.mark.parametrize("colour", ["#1d6fa5", "#2e7d32", "#7b1fa2", "#000000"])
def test_it_keeps_a_colour_that_is_already_readable(colour):
    assert readable_accent(colour) == colour


@pytest.mark.parametrize(
    "colour", ["#ffd54f", "#4fc3f7", "#e91e63", "#7cb342", "#ffffff", "#FFEB3B", "#00ff00"]
)
def test_it_darkens_a_light_colour_until_text_is_readable(colour):
    shown = readable_accent(colour)
    assert contrast_ratio(shown, "#ffffff") >= AA
    assert contrast_ratio(shown, PANEL) >= AA
    # Just enough: one step lighter would not be readable on the panel colour.
    assert contrast_ratio(shown, PANEL) < 5.2


def test_it_keeps_the_hue_of_a_light_colour():
    red, green, blue = (int(readable_accent("#4fc3f7")[i : i + 2], 16) for i in (1, 3, 5))
    assert blue > green > red


def test_contrast_ratio_matches_wcag_examples():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.django_db
def test_the_portal_uses_the_readable_shade(clinic):
    clinic.accent_colour = "#ffd54f"
    clinic.save()
    response = host_client("demo").get("/portal/")
    assert f"--accent: {readable_accent('#ffd54f')};" in response.content.decode()


@pytest.mark.django_db
def test_operators_are_told_when_the_portal_shows_a_darker_shade(django_user_model):
    operator = django_user_model.objects.create_superuser("op", "op@example.com", "x" * 16)
    clinic = ClinicFactory(slug="eastend", name="East End Clinic")
    client = host_client("localhost", operator)
    data = {
        "slug": "eastend",
        "name": "East End Clinic",
        "time_zone": "America/Toronto",
        "country": "CA",
        "is_active": "on",
        "accent_colour": "#ffd54f",
        "domains-TOTAL_FORMS": "0",
        "domains-INITIAL_FORMS": "0",
    }
    page = client.post(f"/admin/clinics/clinic/{clinic.pk}/change/", data, follow=True)
    shown = readable_accent("#ffd54f")
    assert "too light for white text" in page.content.decode()
    assert shown in page.content.decode()

    data["accent_colour"] = "#1d6fa5"
    page = client.post(f"/admin/clinics/clinic/{clinic.pk}/change/", data, follow=True)
    assert page.status_code == 200
    assert "too light" not in page.content.decode()
