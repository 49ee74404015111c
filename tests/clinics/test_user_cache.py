"""The signed-in account is read from the shared cache on each request, and signing out
everywhere, a new password, deactivation and deletion still end sessions at once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinics.models import User
from tests.clients import portal_client
from tests.factories import PatientAccessFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(clinic):
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, first_name="Ada"))
    return grant.user, grant.patient


def _signed_in(client):
    """A signed-in account's page offers "Sign out"; anyone else gets the start page."""
    response = client.get("/portal/")
    assert response.status_code == 200
    return "Sign out" in response.content.decode()


def test_a_warm_page_reads_no_account_row(ada):
    user, patient = ada
    client = portal_client(user, patient)
    assert _signed_in(client)
    with CaptureQueriesContext(connection) as ctx:
        assert _signed_in(client)
    assert not [q for q in ctx.captured_queries if 'FROM "clinics_user"' in q["sql"]]


def test_signing_out_everywhere_ends_the_session_at_once(ada):
    user, patient = ada
    client = portal_client(user, patient)
    assert _signed_in(client)
    User.objects.get(pk=user.pk).end_all_sessions()  # from another device or staff
    assert not _signed_in(client)


def test_a_new_password_ends_other_sessions_at_once(ada):
    user, patient = ada
    client = portal_client(user, patient)
    assert _signed_in(client)
    elsewhere = User.objects.get(pk=user.pk)
    elsewhere.set_password("a brand new passphrase 42")
    elsewhere.save()
    assert not _signed_in(client)


def test_an_account_deactivated_by_save_is_signed_out_at_once(ada):
    user, patient = ada
    client = portal_client(user, patient)
    assert _signed_in(client)
    user.is_active = False
    user.save()
    assert not _signed_in(client)


def test_an_account_deactivated_by_bulk_update_is_signed_out_at_once(ada):
    user, patient = ada
    client = portal_client(user, patient)
    assert _signed_in(client)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert not _signed_in(client)


def test_a_deleted_account_is_signed_out_at_once(ada):
    user, patient = ada
    client = portal_client(user, patient)
    assert _signed_in(client)
    User.objects.filter(pk=user.pk).delete()
    assert not _signed_in(client)
