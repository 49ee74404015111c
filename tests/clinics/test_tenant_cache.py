"""The tenant cache: a host's clinic is read from the cache, never another clinic's, and
any change a clinic admin or operator makes takes effect on the next request."""

import pytest
import time_machine
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinics import tenant_cache
from clinics.models import Clinic, PortalSettings
from clinics.tenant_cache import TENANT_CACHE_SECONDS, resolve_clinic, tenant_cache_key
from portal.core import cache as core_cache
from tests.clients import host_client
from tests.factories import ClinicDomainFactory

pytestmark = pytest.mark.django_db

CUSTOM = "portal.democlinic.example"


@pytest.fixture
def custom_host(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, CUSTOM, "new.democlinic.example"]


def _queries(fn):
    with CaptureQueriesContext(connection) as queries:
        result = fn()
    return result, len(queries)


def test_a_cached_host_is_resolved_without_a_query(clinic):
    (_platform, first), first_queries = _queries(lambda: resolve_clinic("demo.localhost"))
    (_platform, again), again_queries = _queries(lambda: resolve_clinic("demo.localhost"))
    assert first == again == clinic
    assert first_queries > 0
    assert again_queries == 0


def test_the_cached_clinic_carries_its_portal_settings(clinic):
    resolve_clinic("demo.localhost")
    (_platform, cached), queries = _queries(lambda: resolve_clinic("demo.localhost"))
    policy, _count = _queries(lambda: cached.portal_settings)
    assert queries == _count == 0
    assert policy == clinic.portal_settings
    assert cached.portal_settings.clinic is cached
    assert cached.tz.key == clinic.time_zone


def test_the_cached_clinic_keeps_its_logo(clinic):
    clinic.logo = "clinic-logos/demo.png"
    clinic.save()
    resolve_clinic("demo.localhost")
    _platform, cached = resolve_clinic("demo.localhost")
    assert cached.logo.name == "clinic-logos/demo.png"


def test_the_cache_key_carries_the_clinic_id(clinic, other_clinic):
    resolve_clinic("demo.localhost")
    assert tenant_cache_key(clinic.pk).startswith(f"clinic:{clinic.pk}:")
    assert cache.get(tenant_cache_key(clinic.pk)) is not None
    assert cache.get(tenant_cache_key(other_clinic.pk)) is None


def test_each_host_gets_its_own_clinic_from_the_cache(clinic, other_clinic):
    for _ in range(2):
        demo = host_client("demo").get("/portal/")
        north = host_client("northside").get("/portal/")
        assert b"Demo Family Clinic" in demo.content
        assert b"Northside" not in demo.content
        assert b"Northside Health Centre" in north.content
        assert b"Demo Family Clinic" not in north.content


def test_a_stale_hint_never_sends_a_host_to_another_clinic(clinic, other_clinic):
    resolve_clinic("northside.localhost")
    # As if this process had once seen demo.localhost belong to the other clinic.
    tenant_cache._host_hints["demo.localhost"] = other_clinic.pk
    assert resolve_clinic("demo.localhost") == (False, clinic)
    assert tenant_cache._host_hints["demo.localhost"] == clinic.pk


def test_unknown_hosts_are_looked_up_every_time_and_not_remembered(clinic):
    for _ in range(2):
        (_platform, found), queries = _queries(lambda: resolve_clinic("nowhere.localhost"))
        assert found is None
        assert queries == 1
    assert "nowhere.localhost" not in tenant_cache._host_hints


def test_a_deactivated_clinic_is_a_404_on_the_next_request(clinic):
    client = host_client("demo")
    assert client.get("/portal/").status_code == 200
    clinic.is_active = False
    clinic.save()
    assert client.get("/portal/").status_code == 404
    clinic.is_active = True
    clinic.save()
    assert client.get("/portal/").status_code == 200


def test_a_portal_switched_off_shows_the_unavailable_page_on_the_next_request(clinic):
    client = host_client("demo")
    assert client.get("/portal/").status_code == 200
    policy = PortalSettings.objects.get(clinic=clinic)
    policy.portal_enabled = False
    policy.save()
    assert client.get("/portal/").status_code == 503


def test_a_renamed_subdomain_moves_at_once(clinic):
    assert host_client("demo").get("/portal/").status_code == 200
    clinic.slug = "demo2"
    clinic.save()
    assert host_client("demo").get("/portal/").status_code == 404
    assert host_client("demo2").get("/portal/").status_code == 200


def test_custom_domains_follow_their_rows(clinic, custom_host):
    domain = ClinicDomainFactory(clinic=clinic, domain=CUSTOM, is_primary=True)
    assert host_client(CUSTOM).get("/portal/").status_code == 200
    domain.domain = "new.democlinic.example"
    domain.save()
    assert host_client(CUSTOM).get("/portal/").status_code == 404
    assert host_client("new.democlinic.example").get("/portal/").status_code == 200
    domain.delete()
    assert host_client("new.democlinic.example").get("/portal/").status_code == 404


def test_a_deleted_clinic_is_forgotten(settings):
    from tests.factories import ClinicFactory

    gone = ClinicFactory(slug="gone")
    assert resolve_clinic("gone.localhost")[1] == gone
    gone.delete()
    assert resolve_clinic("gone.localhost") == (False, None)


def test_a_save_in_a_transaction_drops_the_entry_again_at_commit(
    clinic, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        clinic.portal_settings.portal_enabled = False
        clinic.portal_settings.save()
        # A request between the save and the commit caches the rows it sees.
        resolve_clinic("demo.localhost")
        assert cache.get(tenant_cache_key(clinic.pk)) is not None
    assert cache.get(tenant_cache_key(clinic.pk)) is None


def test_a_write_that_sends_no_signal_shows_within_the_cache_lifetime(clinic, monkeypatch):
    # Local memory honours the travelling clock (Redis keeps its own).
    monkeypatch.setattr(core_cache, "cache", LocMemCache("tenant-cache-test", {}))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert resolve_clinic("demo.localhost")[1] == clinic
        Clinic.objects.filter(pk=clinic.pk).update(is_active=False)
        assert resolve_clinic("demo.localhost")[1] == clinic
        traveller.shift(TENANT_CACHE_SECONDS + 1)
        assert resolve_clinic("demo.localhost") == (False, None)


def test_the_base_domain_and_healthz_never_touch_the_cache(clinic, settings):
    settings.ALLOWED_HOSTS = ["localhost", ".localhost"]
    assert resolve_clinic("localhost") == (True, None)
    assert host_client("localhost").get("/healthz").status_code == 200
    assert cache.get(tenant_cache_key(clinic.pk)) is None


def test_rows_read_while_a_deactivation_commits_are_not_kept(clinic, monkeypatch):
    """A request loads the clinic's rows; before it stores them, an operator's
    deactivation is saved. The request may answer with what it read, the next may not."""
    resolve_clinic("demo.localhost")  # this process knows the host
    cache.delete(tenant_cache_key(clinic.pk))  # and the entry has expired
    real_entry_for = tenant_cache._entry_for

    def read_then_deactivated(loaded):
        entry = real_entry_for(loaded)  # the rows as this request read them
        monkeypatch.setattr(tenant_cache, "_entry_for", real_entry_for)
        operator_copy = Clinic.objects.get(pk=clinic.pk)
        operator_copy.is_active = False
        operator_copy.save()
        return entry

    monkeypatch.setattr(tenant_cache, "_entry_for", read_then_deactivated)
    assert resolve_clinic("demo.localhost")[1] == clinic
    assert resolve_clinic("demo.localhost") == (False, None)
