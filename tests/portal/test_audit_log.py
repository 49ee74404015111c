"""The audit log as staff read it: action names in words, filters by action and by dates,
and a CSV export of what the list shows, only ever of the reader's clinic."""

import ast
import csv
import datetime as dt
import io
import zoneinfo
from pathlib import Path

import pytest
from django.utils import translation

from portal.audit.actions import ACTION_LABELS, action_label
from portal.audit.models import AuditEvent
from portal.audit.services import audit_record
from tests.clients import host_client, staff_client
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LOG = "/admin/audit/auditevent/"
EXPORT = "/admin/audit/auditevent/export/"
TORONTO = zoneinfo.ZoneInfo("America/Toronto")


def _audited_actions():
    """(code, is_prefix) of every ``audit_record(action=...)`` in the project's source."""
    for app in ("portal", "clinics", "patients", "invitations", "appointments", "messaging"):
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not (
                    isinstance(node, ast.Call) and getattr(node.func, "id", "") == "audit_record"
                ):
                    continue
                for keyword in node.keywords:
                    if keyword.arg != "action":
                        continue
                    if isinstance(keyword.value, ast.Constant):
                        yield keyword.value.value, False
                    elif isinstance(keyword.value, ast.JoinedStr):
                        yield keyword.value.values[0].value, True


def _rows(response):
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def at(frozen):
    """Record an event at a moment (Toronto time) by moving the clock there."""

    def record(clinic, when, action="signin.success", **fields):
        frozen.move_to(when.replace(tzinfo=TORONTO))
        return audit_record(action=action, clinic=clinic, **fields)

    return record


def test_every_action_the_code_records_has_words():
    found = list(_audited_actions())
    assert len(found) > 30
    missing = [
        code
        for code, is_prefix in found
        if (
            not any(k.startswith(code) for k in ACTION_LABELS)
            if is_prefix
            else code not in ACTION_LABELS
        )
    ]
    assert missing == []


def test_action_names_are_translated():
    with translation.override("fr"):
        assert action_label("signin.success") != "Signed in"
    assert action_label("signin.success") == "Signed in"
    assert action_label("something.new") == "something.new"


def test_the_list_and_its_filter_show_words(clinic, clinic_admin):
    audit_record(action="signin.success", clinic=clinic)
    audit_record(action="staff.invitation_sent", clinic=clinic)
    client = staff_client(clinic_admin)
    page = client.get(LOG).content.decode()
    assert "Signed in" in page and "Staff invitation sent" in page
    filtered = client.get(LOG, {"action": "signin.success"})
    assert [e.action for e in filtered.context["cl"].result_list] == ["signin.success"]


def test_the_date_range_includes_both_days_in_the_clinics_time(clinic, clinic_admin, at):
    at(clinic, dt.datetime(2030, 1, 9, 23, 30), details={"n": "before"})
    at(clinic, dt.datetime(2030, 1, 10, 0, 30), details={"n": "first day"})
    at(clinic, dt.datetime(2030, 1, 12, 23, 30), details={"n": "last day"})
    at(clinic, dt.datetime(2030, 1, 13, 0, 30), details={"n": "after"})
    response = staff_client(clinic_admin).get(
        LOG, {"created_at__since": "2030-01-10", "created_at__until": "2030-01-12"}
    )
    shown = {e.details["n"] for e in response.context["cl"].result_list}
    assert shown == {"first day", "last day"}
    assert 'value="2030-01-10"' in response.content.decode()


def test_the_export_is_the_filtered_list_of_the_readers_clinic_only(
    clinic, other_clinic, clinic_admin, outsider_staff, at
):
    patient = PatientFactory(clinic=clinic)
    at(clinic, dt.datetime(2030, 1, 10, 9), action="patient.viewed", acting_for=patient)
    at(clinic, dt.datetime(2030, 1, 10, 10), action="signin.success")
    at(clinic, dt.datetime(2030, 1, 11, 10), action="patient.viewed")
    at(other_clinic, dt.datetime(2030, 1, 10, 9), action="patient.viewed")
    response = staff_client(clinic_admin).get(
        EXPORT,
        {
            "action": "patient.viewed",
            "created_at__since": "2030-01-10",
            "created_at__until": "2030-01-10",
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _rows(response)
    assert [(r["action"], r["for patient (id)"]) for r in rows] == [
        ("Chart viewed", str(patient.pk))
    ]
    assert "details" not in rows[0]
    exported = AuditEvent.objects.get(action="audit.exported")
    assert (exported.clinic, exported.actor) == (clinic, clinic_admin)
    assert exported.details == {"rows": 1, "since": "2030-01-10", "until": "2030-01-10"}


def test_a_name_typed_as_a_formula_is_exported_as_text(clinic, clinic_admin):
    trickster = UserFactory(clinic=clinic, first_name="=HYPERLINK(1)", last_name="")
    audit_record(action="signin.success", clinic=clinic, actor=trickster)
    rows = _rows(staff_client(clinic_admin).get(EXPORT, {"action": "signin.success"}))
    assert rows[0]["actor name"] == "'=HYPERLINK(1)"


def test_front_desk_can_neither_read_nor_export_the_log(clinic, front_desk):
    audit_record(action="signin.success", clinic=clinic)
    client = staff_client(front_desk)
    assert client.get(LOG).status_code == 403
    assert client.get(EXPORT).status_code == 403
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_operators_export_every_clinic_with_its_id(clinic, other_clinic):
    operator = UserFactory(clinic=None, username="op", is_staff=True, is_superuser=True)
    audit_record(action="signin.success", clinic=clinic)
    audit_record(action="signin.success", clinic=other_clinic)
    rows = _rows(host_client("localhost", operator).get(EXPORT, {"action": "signin.success"}))
    assert sorted(r["clinic"] for r in rows) == sorted([str(clinic.pk), str(other_clinic.pk)])


def test_the_export_stays_at_a_fixed_number_of_queries(
    clinic, clinic_admin, django_assert_max_num_queries
):
    for n in range(30):
        audit_record(
            action="patient.viewed",
            clinic=clinic,
            acting_for=PatientFactory(clinic=clinic) if n % 3 == 0 else None,
        )
    client = staff_client(clinic_admin)
    with django_assert_max_num_queries(14):
        assert len(_rows(client.get(EXPORT))) == 30
