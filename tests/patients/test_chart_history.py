"""The history of a chart: every recorded change, who made it and when, old → new, on the
patient's History page in the admin; append-only on PostgreSQL."""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from appointments.models import Appointment
from clinics.models import PortalSettings
from patients.history import chart_history
from patients.models import Patient, PatientAccess, PatientIdentifier
from tests.clients import staff_client
from tests.factories import (
    AppointmentFactory,
    PatientAccessFactory,
    PatientFactory,
    PatientIdentifierFactory,
    ProviderFactory,
    named,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def chart(clinic):
    patient = PatientFactory(clinic=clinic, first_name="Ada", last_name="Byron", city="Ottawa")
    PatientIdentifierFactory(patient=patient, number="1234567890")
    return patient


def _edit_in_admin(client, patient, **changes):
    identifier = PatientIdentifier.objects.get(patient=patient)
    data = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "status": patient.status,
        "preferred_language": patient.preferred_language,
        "city": patient.city,
        "email": patient.email,
        "identifiers-TOTAL_FORMS": "1",
        "identifiers-INITIAL_FORMS": "1",
        "identifiers-0-id": identifier.pk,
        "identifiers-0-patient": patient.pk,
        "identifiers-0-id_type": identifier.id_type_id,
        "identifiers-0-number": identifier.number,
        **changes,
    }
    response = client.post(f"/admin/patients/patient/{patient.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_a_staff_edit_of_the_city_shows_old_and_new_on_the_history_page(clinic, chart, front_desk):
    named(front_desk, "Fiona", "Desk")
    client = staff_client(front_desk)
    _edit_in_admin(client, chart, city="Gatineau")
    page = client.get(f"/admin/patients/patient/{chart.pk}/history/")
    assert page.status_code == 200
    changed = next(c for c in page.context["changes"] if c.kind == "changed")
    assert changed.author == "Fiona Desk"
    assert [(f.label, f.old, f.new) for f in changed.fields] == [("city", "Ottawa", "Gatineau")]
    text = page.content.decode()
    assert "<del>Ottawa</del> → <ins>Gatineau</ins>" in text


def test_an_id_number_change_is_in_the_charts_history(clinic, chart, front_desk):
    _edit_in_admin(staff_client(front_desk), chart, **{"identifiers-0-number": "1234 567 899"})
    changes = chart_history(clinic=clinic, patient=chart)
    number = next(c for c in changes if c.subject == "ID number" and c.kind == "changed")
    assert [(f.old, f.new) for f in number.fields] == [("1234567890", "1234567899")]


def test_a_save_that_changes_nothing_adds_no_line(clinic, chart, front_desk):
    client = staff_client(front_desk)
    _edit_in_admin(client, chart)
    assert [c.kind for c in chart_history(clinic=clinic, patient=chart)] == [
        "created",
        "created",
    ]


def test_grants_and_appointments_are_in_the_charts_history(clinic, chart, visit_type, frozen):
    grant = PatientAccessFactory(patient=chart)
    PatientAccess.objects.filter(pk=grant.pk).update(can_messages=False)  # a bulk update
    provider = ProviderFactory(clinic=clinic, appointment_types=[visit_type])
    visit = AppointmentFactory(patient=chart, provider=provider, appointment_type=visit_type)
    Appointment.objects.filter(pk=visit.pk).update(status=Appointment.Status.COMPLETED)
    changes = chart_history(clinic=clinic, patient=chart)
    subjects = {(c.subject, c.kind) for c in changes}
    assert ("Portal access", "changed") in subjects
    assert ("Appointment", "changed") in subjects
    completed = next(c for c in changes if c.subject == "Appointment" and c.kind == "changed")
    assert [f.label for f in completed.fields] == ["status"]


def test_a_bulk_update_of_charts_is_recorded(clinic, chart):
    Patient.objects.filter(pk=chart.pk).update(city="Hull")
    latest = chart_history(clinic=clinic, patient=chart)[0]
    assert [(f.old, f.new) for f in latest.fields] == [("Ottawa", "Hull")]


def test_another_clinics_staff_cannot_open_the_history(clinic, chart, outsider_staff):
    client = staff_client(outsider_staff)
    assert client.get(f"/admin/patients/patient/{chart.pk}/history/").status_code == 404


def test_the_history_page_stays_at_a_fixed_query_count(
    clinic, chart, front_desk, visit_type, django_assert_max_num_queries
):
    provider = ProviderFactory(clinic=clinic, appointment_types=[visit_type])
    for n in range(15):
        AppointmentFactory(
            patient=chart,
            provider=provider,
            appointment_type=visit_type,
            start=dt.datetime(2031, 1, 1 + n, 15, tzinfo=dt.UTC),
        )
    client = staff_client(front_desk)
    with django_assert_max_num_queries(30):
        assert client.get(f"/admin/patients/patient/{chart.pk}/history/").status_code == 200


def test_portal_settings_changes_have_a_history(clinic, clinic_admin):
    client = staff_client(clinic_admin)
    url = f"/admin/clinics/portalsettings/{clinic.portal_settings.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    data["otp_validity_minutes"] = 15
    assert client.post(url, data).status_code == 302
    page = client.get(url.replace("/change/", "/history/"))
    changed = next(c for c in page.context["changes"] if c.kind == "changed")
    assert [(f.old, f.new) for f in changed.fields] == [("10", "15")]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "table", ["patients_historicalpatient", "clinics_historicalportalsettings"]
)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET history_type = '~'", "DELETE FROM {table}"],
)
def test_history_rows_cannot_be_rewritten_on_postgresql(clinic, chart, table, statement):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://... (CI does)")
    assert PortalSettings.history.exists()
    assert Patient.history.exists()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.format(table=table))
