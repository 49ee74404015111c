"""Staff of one clinic cannot see or pick the other clinic's rows anywhere in the admin."""

import pytest

from clinics.models import IdentifierType
from patients.models import Patient, PatientIdentifier
from tests.clients import host_client, staff_client
from tests.factories import PatientFactory, PatientIdentifierFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def charts(clinic, other_clinic):
    """A chart in each clinic, each with a provider and a health-card number."""
    ours = PatientFactory(
        clinic=clinic,
        last_name="Ourpatient",
        primary_provider=ProviderFactory(clinic=clinic, name="Dr Ours"),
    )
    theirs = PatientFactory(
        clinic=other_clinic,
        last_name="Theirpatient",
        primary_provider=ProviderFactory(clinic=other_clinic, name="Dr Theirs"),
    )
    PatientIdentifierFactory(patient=ours, number="1111111111")
    PatientIdentifierFactory(patient=theirs, number="2222222222")
    return ours, theirs


def test_the_changelist_shows_only_the_clinics_rows(charts, front_desk):
    response = staff_client(front_desk).get("/admin/patients/patient/")
    assert response.status_code == 200
    assert b"Ourpatient" in response.content
    assert b"Theirpatient" not in response.content


def test_another_clinics_row_is_a_404_by_id(charts, front_desk):
    _, theirs = charts
    client = staff_client(front_desk)
    assert client.get(f"/admin/patients/patient/{theirs.pk}/change/").status_code == 404
    assert client.get(f"/admin/patients/patient/{theirs.pk}/history/").status_code == 404


def _search(client, q):
    response = client.get("/admin/patients/patient/", {"q": q})
    return [p.last_name for p in response.context["cl"].result_list]


def test_search_never_matches_another_clinics_rows(charts, front_desk):
    client = staff_client(front_desk)
    assert _search(client, "Theirpatient") == []
    assert _search(client, "2222222222") == []
    assert _search(client, "1111111111") == ["Ourpatient"]
    assert _search(client, "Ourpatient") == ["Ourpatient"]


def test_fk_choices_offer_only_the_clinics_rows(charts, front_desk):
    ours, _ = charts
    response = staff_client(front_desk).get(f"/admin/patients/patient/{ours.pk}/change/")
    content = response.content.decode()
    assert "Dr Ours" in content
    assert "Dr Theirs" not in content
    # The identifier inline's ID types are this clinic's own.
    theirs_types = IdentifierType.objects.exclude(clinic=ours.clinic).values_list("pk", flat=True)
    ours_types = IdentifierType.objects.filter(clinic=ours.clinic).values_list("pk", flat=True)
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    offered = set(form.fields["id_type"].queryset.values_list("pk", flat=True))
    assert offered == set(ours_types)
    assert not offered & set(theirs_types)


def test_list_filters_offer_only_the_clinics_rows(charts, front_desk):
    content = staff_client(front_desk).get("/admin/patients/patient/").content.decode()
    assert "Dr Ours" in content
    assert "Dr Theirs" not in content


def test_a_forged_post_cannot_pick_another_clinics_row(charts, front_desk):
    ours, theirs = charts
    client = staff_client(front_desk)
    url = f"/admin/patients/patient/{ours.pk}/change/"
    data = {
        "first_name": ours.first_name,
        "last_name": ours.last_name,
        "date_of_birth": "1980-05-17",
        "sex": "U",
        "status": "active",
        "preferred_language": "en",
        "primary_provider": theirs.primary_provider_id,
        "identifiers-TOTAL_FORMS": "0",
        "identifiers-INITIAL_FORMS": "0",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "primary_provider" in response.context["adminform"].form.errors
    ours.refresh_from_db()
    assert ours.primary_provider.clinic_id == ours.clinic_id


def test_a_new_row_gets_the_staff_members_clinic(clinic, other_clinic, front_desk):
    client = staff_client(front_desk)
    response = client.post(
        "/admin/patients/patient/add/",
        {
            "first_name": "New",
            "last_name": "Person",
            "date_of_birth": "2001-02-03",
            "sex": "F",
            "status": "active",
            "preferred_language": "en",
            "clinic": other_clinic.pk,
            "identifiers-TOTAL_FORMS": "1",
            "identifiers-INITIAL_FORMS": "0",
            "identifiers-0-id_type": IdentifierType.objects.for_clinic(clinic).first().pk,
            "identifiers-0-number": "555 444 3333",
        },
    )
    assert response.status_code == 302
    patient = Patient.objects.get(last_name="Person")
    assert patient.clinic == clinic
    identifier = PatientIdentifier.objects.get(patient=patient)
    assert identifier.clinic == clinic
    assert identifier.number == "5554443333"


def test_a_duplicate_id_number_is_a_form_error_not_a_crash(charts, front_desk, clinic):
    client = staff_client(front_desk)
    response = client.post(
        "/admin/patients/patient/add/",
        {
            "first_name": "Dup",
            "last_name": "Person",
            "date_of_birth": "2001-02-03",
            "sex": "F",
            "status": "active",
            "preferred_language": "en",
            "identifiers-TOTAL_FORMS": "1",
            "identifiers-INITIAL_FORMS": "0",
            "identifiers-0-id_type": IdentifierType.objects.for_clinic(clinic)
            .get(code="health-card")
            .pk,
            "identifiers-0-number": "1111111111",
        },
    )
    assert response.status_code == 200
    assert not Patient.objects.filter(last_name="Person").exists()


def test_actions_never_touch_another_clinics_rows(clinic, other_clinic, clinic_admin):
    theirs = IdentifierType.objects.for_clinic(other_clinic).first()
    ours = IdentifierType.objects.for_clinic(clinic).get(code="passport")
    client = staff_client(clinic_admin)
    response = client.post(
        "/admin/clinics/identifiertype/",
        {
            "action": "delete_selected",
            "_selected_action": [theirs.pk, ours.pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert IdentifierType.objects.filter(pk=theirs.pk).exists()
    assert not IdentifierType.objects.filter(pk=ours.pk).exists()


def test_portal_settings_open_on_the_clinics_own_row(clinic, other_clinic, clinic_admin):
    client = staff_client(clinic_admin)
    response = client.get("/admin/clinics/portalsettings/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/{clinic.portal_settings.pk}/change/")
    other = other_clinic.portal_settings.pk
    assert client.get(f"/admin/clinics/portalsettings/{other}/change/").status_code == 404


def test_front_desk_cannot_change_portal_settings(clinic, front_desk):
    client = staff_client(front_desk)
    url = f"/admin/clinics/portalsettings/{clinic.portal_settings.pk}/change/"
    response = client.post(url, {"portal_enabled": ""})
    assert response.status_code == 403
    clinic.portal_settings.refresh_from_db()
    assert clinic.portal_settings.portal_enabled


def test_clinic_admin_changes_portal_settings(clinic, clinic_admin):
    client = staff_client(clinic_admin)
    url = f"/admin/clinics/portalsettings/{clinic.portal_settings.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    data["otp_validity_minutes"] = 15
    data["booking_allowed"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    clinic.portal_settings.refresh_from_db()
    assert clinic.portal_settings.otp_validity_minutes == 15
    assert clinic.portal_settings.booking_allowed


def test_staff_of_another_clinic_cannot_sign_in_here(clinic, other_clinic, outsider_staff):
    response = host_client("demo").post(
        "/admin/login/?next=/admin/",
        {"username": "outsideradmin", "password": "correct horse battery staple"},
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in response.wsgi_request.session


def test_staff_sign_in_on_their_own_clinic(clinic, front_desk):
    response = host_client("demo").post(
        "/admin/login/?next=/admin/",
        {"username": "frontdesk", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302


def test_patient_accounts_cannot_reach_the_admin(clinic, alice):
    response = host_client("demo", alice).get("/admin/")
    assert response.status_code == 302


def test_platform_admin_is_only_for_operators(clinic, clinic_admin, django_user_model):
    operator = django_user_model.objects.create_superuser("op", "op@example.com", "x" * 16)
    assert host_client("localhost", operator).get("/admin/clinics/clinic/").status_code == 200
    # A clinic admin's session is anonymous on the base domain.
    clinic_session = staff_client(clinic_admin).cookies["sessionid"].value
    base = host_client("localhost")
    base.cookies["sessionid"] = clinic_session
    assert base.get("/admin/clinics/clinic/").status_code == 302
    # The operator's session is anonymous on a clinic host.
    operator_on_clinic = host_client("localhost", operator).cookies["sessionid"].value
    demo = host_client("demo")
    demo.cookies["sessionid"] = operator_on_clinic
    assert demo.get("/admin/").status_code == 302


def test_operators_create_a_clinic_with_its_defaults(django_user_model):
    operator = django_user_model.objects.create_superuser("op", "op@example.com", "x" * 16)
    client = host_client("localhost", operator)
    response = client.post(
        "/admin/clinics/clinic/add/",
        {
            "slug": "eastend",
            "name": "East End Clinic",
            "time_zone": "America/Toronto",
            "country": "CA",
            "is_active": "on",
            "accent_colour": "#123456",
            "domains-TOTAL_FORMS": "0",
            "domains-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    from clinics.models import Clinic

    clinic = Clinic.objects.get(slug="eastend")
    assert clinic.portal_settings.invitation_validity_hours == 72
    assert IdentifierType.objects.for_clinic(clinic).count() == 4
