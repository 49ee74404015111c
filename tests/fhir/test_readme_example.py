"""README, "Connecting an EHR": the worked example, run as written — make a key, register
the client in the clinic's admin, get a token, list today's appointments, accept the
patients' waiting changes of details."""

import contextlib
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest

from fhir_api.models import SmartClient
from patients import demographics
from patients.models import ChangeRequest
from tests.clients import staff_client
from tests.factories import AppointmentFactory, ClinicDomainFactory, PatientFactory

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.django_db(transaction=True)


def readme_block(first_line: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    (block,) = [b for b in blocks if b.startswith(first_line + "\n")]
    return block


def run(code: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})  # noqa: S102
    return printed.getvalue()


def test_the_readme_example_lists_todays_appointments(
    live_server, clinic, clinic_admin, settings, monkeypatch, tmp_path, frozen, now
):
    monkeypatch.chdir(tmp_path)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    ClinicDomainFactory(clinic=clinic, domain="127.0.0.1")
    today = AppointmentFactory(
        patient=PatientFactory(clinic=clinic), start=now + dt.timedelta(hours=2)
    )
    AppointmentFactory(patient=today.patient, start=now + dt.timedelta(days=1))

    jwks = run(readme_block("# make_key.py"))

    admin = staff_client(clinic_admin)
    response = admin.post(
        "/admin/fhir_api/smartclient/add/",
        {
            "name": "Clinic EHR",
            "jwks": jwks,
            "scopes": "system/Patient.rs system/Appointment.rs system/Task.rus",
            "requests_per_minute": "600",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    client = SmartClient.objects.for_clinic(clinic).get(name="Clinic EHR")
    assert client.jwks == json.loads(jwks)
    shown = admin.get(f"/admin/fhir_api/smartclient/{client.pk}/change/")
    assert client.client_id in shown.content.decode()

    monkeypatch.setenv("FHIR_BASE", f"http://127.0.0.1:{live_server.url.rsplit(':', 1)[1]}/fhir/R4")
    monkeypatch.setenv("FHIR_CLIENT_ID", client.client_id)
    printed = run(readme_block("# todays_appointments.py"))

    assert printed.splitlines() == [f"2030-01-15T16:00:00Z booked Patient/{today.patient_id}"]

    # Step 4: the patient's waiting change of details is accepted, once.
    asked = demographics.change_request_create(
        request=None, patient=today.patient, requested_by=None, proposed={"city": "Gatineau"}
    )
    printed = run(readme_block("# accept_changes.py"))

    assert printed.splitlines() == [f"Task/cr-{asked.pk} city completed"]
    asked.refresh_from_db()
    assert asked.status == ChangeRequest.Status.ACCEPTED
    today.patient.refresh_from_db()
    assert today.patient.city == "Gatineau"
    assert run(readme_block("# accept_changes.py")) == ""
