import pytest
from django.core.cache import cache

from portal.core.cache import ClinicCache, clinic_cache_key
from tests.clients import host_client, staff_client
from tests.factories import ClinicDomainFactory

pytestmark = pytest.mark.django_db


def test_it_serves_each_clinic_at_its_subdomain(clinic, other_clinic):
    demo = host_client("demo").get("/portal/")
    north = host_client("northside").get("/portal/")
    assert demo.status_code == 200
    assert b"Demo Family Clinic" in demo.content
    assert b"Northside" not in demo.content
    assert b"Northside Health Centre" in north.content


def test_it_returns_a_plain_404_for_an_unknown_subdomain(clinic):
    response = host_client("nowhere").get("/portal/")
    assert response.status_code == 404
    assert b"Demo" not in response.content


def test_it_returns_404_for_an_inactive_clinic(clinic):
    clinic.is_active = False
    clinic.save()
    assert host_client("demo").get("/portal/").status_code == 404


def test_it_serves_a_custom_domain(clinic, settings):
    # Custom domains are also listed in EXTRA_ALLOWED_HOSTS (their TLS set-up is an ops change).
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "portal.democlinic.example"]
    ClinicDomainFactory(clinic=clinic, domain="portal.democlinic.example", is_primary=True)
    response = host_client("portal.democlinic.example").get("/portal/")
    assert response.status_code == 200
    assert b"Demo Family Clinic" in response.content


def test_the_base_domain_shows_a_neutral_landing_page(clinic, settings):
    settings.ALLOWED_HOSTS = ["localhost", ".localhost"]
    response = host_client("localhost").get("/")
    assert response.status_code == 200
    assert b"Demo" not in response.content
    assert host_client("localhost").get("/portal/").status_code == 404


def test_a_session_from_one_clinic_is_anonymous_on_another(clinic, other_clinic, front_desk):
    demo = staff_client(front_desk)
    assert demo.get("/admin/").status_code == 200
    cookie = demo.cookies["sessionid"].value
    north = host_client("northside")
    north.cookies["sessionid"] = cookie
    response = north.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_session_cookie_is_host_only(clinic, front_desk):
    client = host_client("demo")
    response = client.post(
        "/admin/login/", {"username": "frontdesk", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    morsel = response.cookies["sessionid"]
    assert morsel["domain"] == ""
    assert morsel["httponly"]


def test_cache_keys_differ_per_clinic(clinic, other_clinic):
    assert clinic_cache_key(clinic, "x") != clinic_cache_key(other_clinic, "x")
    ClinicCache(clinic).set("greeting", value="demo")
    assert ClinicCache(other_clinic).get("greeting") is None
    assert ClinicCache(clinic).get("greeting") == "demo"
    assert cache.get(clinic_cache_key(clinic, "greeting")) == "demo"


def test_the_clinic_time_zone_is_active_during_a_request(clinic):
    from django.utils import timezone

    seen = {}

    def view(request):
        from django.http import HttpResponse

        seen["tz"] = timezone.get_current_timezone_name()
        return HttpResponse("ok")

    from django.test import RequestFactory

    from clinics.middleware import TenantMiddleware

    request = RequestFactory().get("/portal/", HTTP_HOST="demo.localhost")
    TenantMiddleware(view)(request)
    assert seen["tz"] == clinic.time_zone
