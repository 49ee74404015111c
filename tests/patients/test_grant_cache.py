"""Signed-in pages read the account's grants from the shared cache, and every way a grant
ends takes effect on the very next request.

Each test signs a person in, visits a page (which fills the cache), ends or changes the
access through one write path (services, the admin's save, a bulk update, the clock) and
expects the next request to see it.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invitations.services import portal_access_revoke
from patients.models import Patient, PatientAccess, PatientCategory
from tests.clients import portal_client
from tests.clock import NOW
from tests.factories import (
    PatientAccessFactory,
    PatientCategoryFactory,
    PatientFactory,
    ProviderFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(clinic):
    """Pat, who acts for their child Kim (a guardian's grant) besides their own chart."""
    own = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Pat"))
    kim = PatientFactory(clinic=clinic, first_name="Kim", date_of_birth=dt.date(2018, 3, 1))
    child = PatientAccessFactory(user=own.user, patient=kim, relationship="guardian")
    return own, child


def _acts_for(client):
    """Who the home page offers: the signed-in chart and those one may switch to."""
    response = client.get("/portal/")
    if response.status_code != 200:
        return response.status_code
    content = response.content.decode()
    return sorted(name for name in ("Pat", "Kim") if f"Switch to {name}" in content) or ["-"]


def test_a_warm_page_reads_no_grants(family, frozen):
    own, _child = family
    client = portal_client(own.user, own.patient)
    client.get("/portal/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/portal/").status_code == 200
    assert not [q for q in ctx.captured_queries if "patients_patientaccess" in q["sql"]]


def test_a_grant_revoked_with_a_bulk_update_ends_at_once(family, frozen):
    own, child = family
    client = portal_client(own.user, own.patient)
    assert _acts_for(client) == ["Kim"]
    PatientAccess.objects.filter(pk=child.pk).update(revoked_at=NOW)
    assert _acts_for(client) == ["-"]


def test_a_grant_saved_as_revoked_ends_at_once(family, frozen):
    own, child = family
    client = portal_client(own.user, own.patient)
    assert _acts_for(client) == ["Kim"]
    child.revoked_at = NOW
    child.save()
    assert _acts_for(client) == ["-"]


def test_a_grant_deleted_ends_at_once(family, frozen):
    own, child = family
    client = portal_client(own.user, own.patient)
    assert _acts_for(client) == ["Kim"]
    child.delete()
    assert _acts_for(client) == ["-"]


def test_staff_revoking_portal_access_ends_every_grant_at_once(clinic, family, frozen):
    own, child = family
    client = portal_client(own.user, child.patient)
    assert client.get("/portal/").status_code == 200
    portal_access_revoke(patient=child.patient, revoked_by=StaffFactory(clinic=clinic))
    assert _acts_for(portal_client(own.user, own.patient)) == ["-"]
    # The session that acted for Kim falls back to Pat's own chart, never Kim's.
    assert "Kim" not in client.get("/portal/").content.decode()


def test_a_chart_revoked_with_a_bulk_update_ends_at_once(family, frozen):
    own, child = family
    client = portal_client(own.user, own.patient)
    assert _acts_for(client) == ["Kim"]
    Patient.objects.filter(pk=child.patient_id).update(portal_revoked_at=NOW)
    assert _acts_for(client) == ["-"]


def test_a_category_kept_off_the_portal_ends_access_at_once(clinic, family, frozen):
    own, child = family
    category = PatientCategoryFactory(clinic=clinic, name="Walk-in only")
    kim = child.patient
    kim.category = category
    kim.save()
    client = portal_client(own.user, own.patient)
    assert _acts_for(client) == ["Kim"]
    category.portal_eligible = False
    category.save()
    assert _acts_for(client) == ["-"]
    category.delete()  # the chart is left without a category: eligible again
    assert _acts_for(client) == ["Kim"]


def test_expiry_is_worked_out_at_each_request(family, frozen):
    own, child = family
    child.expires_at = NOW + dt.timedelta(minutes=5)
    child.save()
    client = portal_client(own.user, own.patient)
    assert _acts_for(client) == ["Kim"]
    frozen.move_to(NOW + dt.timedelta(minutes=6))  # nothing written: the entry stays
    assert _acts_for(client) == ["-"]


def test_one_accounts_grants_are_never_anothers(clinic, family, frozen):
    own, _child = family
    # Fixed names: a generated one ("Patrick", "Kimberly") would contain what is looked for.
    other = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Sam", last_name="Okafor")
    )
    assert _acts_for(portal_client(own.user, own.patient)) == ["Kim"]
    response = portal_client(other.user, other.patient).get("/portal/")
    content = response.content.decode()
    assert "Kim" not in content and "Pat" not in content


def test_a_category_changed_with_a_bulk_update_ends_access_at_once(clinic, family, frozen):
    own, child = family
    category = PatientCategoryFactory(clinic=clinic, name="Walk-in only")
    child.patient.category = category
    child.patient.save()
    client = portal_client(own.user, own.patient)
    assert _acts_for(client) == ["Kim"]
    PatientCategory.objects.filter(pk=category.pk).update(portal_eligible=False)
    assert _acts_for(client) == ["-"]


def test_a_deleted_provider_leaves_no_stale_chart_behind(clinic, family, frozen):
    """Django sets a deleted provider to NULL on its charts with a bulk update (through the
    charts' base manager): the cached charts must follow."""
    from patients.grant_cache import live_grants

    own, child = family
    doctor = ProviderFactory(clinic=clinic, name="Dr Gone")
    Patient.objects.filter(pk=child.patient_id).update(primary_provider=doctor)
    assert {g.patient.primary_provider_id for g in live_grants(clinic=clinic, user=own.user)} == {
        None,
        doctor.pk,
    }
    doctor.delete()
    charts = live_grants(clinic=clinic, user=own.user)
    assert {g.patient.primary_provider_id for g in charts} == {None}


def test_saving_notice_preferences_writes_only_them(clinic, family, frozen):
    """The chart the request acts on comes from the cache; saving the patient's notice
    choice must not write its other columns back over a newer change."""
    from django.db import connection

    own, _child = family
    client = portal_client(own.user, own.patient)
    client.get("/portal/")  # the chart is now cached with its current city
    with connection.cursor() as cursor:  # a change the cache has not seen
        cursor.execute(
            "UPDATE patients_patient SET city = %s WHERE id = %s", ["Kingston", own.patient_id]
        )
    response = client.post(
        "/portal/my-information/notices/",
        {"notify_appointments_by": "sms", "notify_messages_by": "email"},
    )
    assert response.status_code == 302
    chart = Patient.objects.get(pk=own.patient_id)
    assert (chart.city, chart.notify_appointments_by) == ("Kingston", "sms")
