"""The signed-in account's grants are read once per request, and never reused stale."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients import selectors
from patients.grant_cache import forget_grants
from patients.selectors import grants_reused, usable_grants
from tests.clients import portal_client
from tests.factories import PatientAccessFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _grant_queries(queries):
    return [q for q in queries.captured_queries if 'FROM "patients_patientaccess"' in q["sql"]]


@pytest.fixture
def parent(clinic, frozen):
    """Ada, who is also Cy's guardian. Cy is 9 at the frozen NOW: a guardian's access ends
    the day the child turns 16 (2036-05-01)."""
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Ada"))
    child = PatientFactory(clinic=clinic, first_name="Cy", date_of_birth=datetime.date(2020, 5, 1))
    PatientAccessFactory(user=grant.user, patient=child, relationship="guardian")
    return grant.user, grant.patient


def test_the_home_page_reads_the_grants_once(parent):
    user, patient = parent
    client = portal_client(user, patient)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/portal/")
    assert response.status_code == 200
    assert "Switch to Cy" in response.content.decode()
    assert len(_grant_queries(queries)) == 1


def test_a_grant_saved_during_the_request_is_seen_at_once(clinic, parent):
    user, patient = parent
    grants = usable_grants(clinic=clinic, user=user)
    with grants_reused(clinic=clinic, user=user, grants=grants):
        assert len(usable_grants(clinic=clinic, user=user)) == 2
        ended = grants[1]
        ended.revoked_at = timezone.now()
        ended.save(update_fields=["revoked_at"])
        assert [g.patient for g in usable_grants(clinic=clinic, user=user)] == [patient]


def test_a_chart_saved_during_the_request_is_seen_at_once(clinic, parent):
    user, patient = parent
    grants = usable_grants(clinic=clinic, user=user)
    with grants_reused(clinic=clinic, user=user, grants=grants):
        patient.portal_revoked_at = timezone.now()
        patient.save(update_fields=["portal_revoked_at"])
        assert patient not in [g.patient for g in usable_grants(clinic=clinic, user=user)]


def test_grants_are_reused_only_for_the_same_account_and_clinic(clinic, parent, bob):
    user, _patient = parent
    grants = usable_grants(clinic=clinic, user=user)
    with grants_reused(clinic=clinic, user=user, grants=grants):
        with CaptureQueriesContext(connection) as queries:
            assert usable_grants(clinic=clinic, user=bob) == []
        assert len(_grant_queries(queries)) == 1
        with CaptureQueriesContext(connection) as queries:
            assert len(usable_grants(clinic=clinic, user=user)) == 2
        assert _grant_queries(queries) == []


def test_nothing_is_reused_after_the_request(clinic, parent):
    user, patient = parent
    portal_client(user, patient).get("/portal/")
    assert selectors._request_grants.get() is None
    # With the shared cache's entry gone (patients.grant_cache), the rows are read again.
    forget_grants([(clinic.pk, user.pk)])
    with CaptureQueriesContext(connection) as queries:
        usable_grants(clinic=clinic, user=user)
    assert len(_grant_queries(queries)) == 1
