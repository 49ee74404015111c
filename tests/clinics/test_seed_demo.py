import io

import pytest
from django.core.management import CommandError, call_command

from appointments.models import Appointment
from clinics.models import Clinic, User
from patients.models import Patient, PatientAccess
from tests.clients import host_client

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Clinic.objects.count(),
        User.objects.count(),
        Patient.objects.count(),
        PatientAccess.objects.count(),
        Appointment.objects.count(),
    )


def test_it_is_idempotent(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    first = _counts()
    call_command("seed_demo", stdout=io.StringIO())
    assert _counts() == first
    assert first[0] == 2
    assert set(Clinic.objects.values_list("slug", flat=True)) == {"demo", "northside"}


def test_the_demo_accounts_sign_in_where_the_readme_says(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    staff = host_client("demo").post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": "demo-portal-2026"}
    )
    assert staff.status_code == 302
    patient = host_client("demo")
    signed_in = patient.post(
        "/portal/sign-in/password/",
        {"login": "olivia@example.com", "password": "demo-portal-2026"},
    )
    assert signed_in["Location"] == "/portal/"
    assert "Hello, Olivia" in patient.get("/portal/").content.decode()


def test_it_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=io.StringIO())
