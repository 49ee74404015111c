"""One way to read and show phone numbers: with the clinic's country, in every form (the
portal, the admin's forms and inlines, Quick Add), and written nationally (or
internationally when the number is another country's) wherever it is shown."""

import pytest
from django import forms

from clinics.models import Clinic
from patients.models import Patient
from portal.core.phones import ClinicPhoneField, ClinicPhoneFormMixin, phone_display
from tests.clients import staff_client
from tests.factories import ClinicFactory, PatientFactory
from tests.patients.flows import CHART_MOBILE

pytestmark = pytest.mark.django_db

TYPED = [
    "613-555-0150",
    "(613) 555-0150",
    "613 555 0150",
    "+1 613 555 0150",
    "６１３５５５０１５０",
]


def _admin_add(client, **fields):
    data = {
        "first_name": "New",
        "last_name": "Person",
        "date_of_birth": "2001-02-03",
        "sex": "F",
        "status": "active",
        "preferred_language": "en",
        "identifiers-TOTAL_FORMS": "0",
        "identifiers-INITIAL_FORMS": "0",
        **fields,
    }
    return client.post("/admin/patients/patient/add/", data)


@pytest.mark.parametrize("typed", TYPED)
def test_the_admin_reads_a_local_number_with_the_clinics_country(front_desk, typed):
    response = _admin_add(staff_client(front_desk), mobile=typed)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert str(Patient.objects.get(last_name="Person").mobile) == "+16135550150"


def test_the_admins_error_gives_an_example_of_the_clinics_country(front_desk):
    page = _admin_add(staff_client(front_desk), mobile="555").content.decode()
    assert "Enter a phone number with its area code, like (506) 234-5678." in page
    assert "+12125552368" not in page  # the library's New York example


def test_a_clinic_abroad_reads_and_shows_its_own_numbers(clinic):
    Clinic.objects.filter(pk=clinic.pk).update(country="GB")
    field = ClinicPhoneField(region="GB")
    assert field.clean("020 7946 0958") == "+442079460958"
    with pytest.raises(forms.ValidationError) as error:
        field.clean("12")
    assert "07400 123456" in str(error.value)
    assert phone_display("+442079460958", "GB") == "020 7946 0958"
    assert phone_display("+16135550150", "GB") == "+1 613-555-0150"


def test_numbers_are_shown_nationally_at_home_and_internationally_abroad():
    assert phone_display("+16135550150", "CA") == "(613) 555-0150"
    assert phone_display("+442079460958", "CA") == "+44 20 7946 0958"
    assert phone_display("olivia@example.com", "CA") == "olivia@example.com"
    assert phone_display("", "CA") == ""
    assert phone_display("not a number", "CA") == "not a number"


def test_the_admin_form_shows_the_stored_number_nationally(front_desk, clinic):
    patient = PatientFactory(clinic=clinic, mobile=CHART_MOBILE)
    page = staff_client(front_desk).get(f"/admin/patients/patient/{patient.pk}/change/")
    text = page.content.decode()
    assert 'value="(613) 555-0123"' in text and 'type="tel"' in text
    assert CHART_MOBILE not in text


def test_saving_the_admin_form_unchanged_keeps_the_number(front_desk, clinic):
    patient = PatientFactory(clinic=clinic, mobile=CHART_MOBILE, email="")
    client = staff_client(front_desk)
    response = _admin_add(client, mobile="(613) 555-0123", first_name="Again")
    assert response.status_code == 302
    assert str(Patient.objects.get(first_name="Again").mobile) == CHART_MOBILE
    assert patient.pk


@pytest.mark.parametrize("typed", TYPED)
def test_quick_add_reads_the_same_numbers(front_desk, typed):
    client = staff_client(front_desk, committing=True)
    response = client.post(
        "/admin/patients/patient/quick-add/",
        {
            "first_name": "Lena",
            "last_name": "Quick",
            "date_of_birth": "1985-02-03",
            "channel": "sms",
            "contact": typed,
        },
    )
    assert response.status_code == 302
    assert str(Patient.objects.get(last_name="Quick").mobile) == "+16135550150"


def test_quick_adds_error_gives_an_example_of_the_clinics_country(front_desk):
    page = staff_client(front_desk).post(
        "/admin/patients/patient/quick-add/",
        {"first_name": "L", "last_name": "Q", "date_of_birth": "1985-02-03", "contact": "555"},
    )
    assert "like (506) 234-5678" in page.content.decode()


def test_a_form_given_the_clinic_reads_with_its_country():
    class Form(ClinicPhoneFormMixin, forms.Form):
        phone = ClinicPhoneField(required=False)

        def __init__(self, *args, clinic, **kwargs):
            self.clinic = clinic
            super().__init__(*args, **kwargs)

    britain = ClinicFactory(slug="london", country="GB")
    form = Form({"phone": "020 7946 0958"}, clinic=britain)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["phone"] == "+442079460958"
