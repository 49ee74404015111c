import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone

from portal.audit.models import AppendOnlyError, AuditEvent
from portal.audit.services import audit_read, audit_record
from tests.clients import staff_client
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_it_records_actor_clinic_ip_and_patient(clinic, front_desk):
    patient = PatientFactory(clinic=clinic)
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.7")
    request.clinic = clinic
    request.user = front_desk
    event = audit_record(action="patient.viewed", request=request, obj=patient, acting_for=patient)
    assert event.clinic == clinic
    assert event.actor == front_desk
    assert event.ip == "203.0.113.7"
    assert event.object_type == "patients.patient"
    assert event.object_id == str(patient.pk)
    assert event.acting_for == patient


def test_it_is_append_only(clinic):
    event = audit_record(action="x", clinic=clinic)
    event.action = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="y")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.parametrize("key", ["password", "code", "token", "OTP"])
def test_it_refuses_secrets_in_details(clinic, key):
    with pytest.raises(ValueError, match="secrets"):
        audit_record(action="x", clinic=clinic, details={key: "123456"})
    assert not AuditEvent.objects.exists()


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(clinic, settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 192.0.2.9"
    )
    request.clinic = clinic
    request.user = None
    assert audit_record(action="x", request=request).ip == "10.0.0.2"
    settings.PORTAL_TRUSTED_PROXY_COUNT = 1
    assert audit_record(action="x", request=request).ip == "192.0.2.9"


def test_staff_see_their_clinics_events_read_only(clinic, other_clinic, clinic_admin):
    audit_record(action="ours.event", clinic=clinic)
    theirs = audit_record(action="theirs.event", clinic=other_clinic)
    client = staff_client(clinic_admin)
    response = client.get("/admin/audit/auditevent/")
    assert response.status_code == 200
    actions = [e.action for e in response.context["cl"].result_list]
    assert actions == ["ours.event"]
    assert client.get(f"/admin/audit/auditevent/{theirs.pk}/change/").status_code == 404
    assert client.get("/admin/audit/auditevent/add/").status_code == 403


def test_front_desk_cannot_read_the_audit_log(clinic, front_desk):
    assert staff_client(front_desk).get("/admin/audit/auditevent/").status_code == 403


# --- audit_read: the same row, one INSERT that reads nothing back ------------------------------


def _columns(event):
    return {
        f.attname: getattr(event, f.attname)
        for f in AuditEvent._meta.concrete_fields
        if not f.primary_key
    }


def test_audit_read_writes_the_row_audit_record_writes(frozen, clinic, front_desk):
    patient = PatientFactory(clinic=clinic)
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.7")
    request.clinic, request.user = clinic, front_desk
    event = {
        "action": "record.viewed",
        "request": request,
        "obj": patient,
        "acting_for": patient,
        "details": {"section": "allergies", "note": "Zoë — ÉTÉ ı İ 😀"},
    }
    written = audit_record(**event)
    audit_read(**event)
    read = AuditEvent.objects.exclude(pk=written.pk).get()
    assert _columns(read) == _columns(AuditEvent.objects.get(pk=written.pk))
    assert read.details == {"section": "allergies", "note": "Zoë — ÉTÉ ı İ 😀"}
    assert read.created_at == timezone.now()
    assert read.ip == "203.0.113.7" and read.actor == front_desk and read.clinic == clinic


def test_audit_read_writes_empty_parts_as_audit_record_does(clinic):
    written = audit_record(action="record.viewed", clinic=clinic)
    audit_read(action="record.viewed", clinic=clinic)
    read = AuditEvent.objects.exclude(pk=written.pk).get()
    assert _columns(read) | {"created_at": None} == _columns(written) | {"created_at": None}


@pytest.mark.parametrize("write", [audit_record, audit_read])
def test_an_object_of_another_model_is_refused_by_both(clinic, front_desk, write):
    """An anonymous visitor as actor, an account as the chart acted for: the model's save
    refuses them, and ``audit_read`` (which makes no model instance) must too."""
    patient = PatientFactory(clinic=clinic)
    with pytest.raises(ValueError):
        write(action="record.viewed", clinic=clinic, actor=AnonymousUser(), acting_for=patient)
    with pytest.raises(ValueError):
        write(action="record.viewed", clinic=clinic, actor=front_desk, acting_for=front_desk)
    with pytest.raises(ValueError):
        write(action="record.viewed", clinic=patient, actor=front_desk)
    assert not AuditEvent.objects.exists()


def test_audit_read_refuses_secrets_and_goes_with_the_callers_transaction(clinic):
    with pytest.raises(ValueError, match="secrets"):
        audit_read(action="x", clinic=clinic, details={"token": "abc"})
    with transaction.atomic():
        audit_read(action="record.viewed", clinic=clinic)
        transaction.set_rollback(True)
    assert not AuditEvent.objects.exists()
