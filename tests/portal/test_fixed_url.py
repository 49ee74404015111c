"""``{% fixed_url %}`` gives what ``{% url %}`` gives, for each URLconf and script prefix."""

import pytest
from django.template import engines
from django.urls import reverse, set_script_prefix, set_urlconf

from portal.core.templatetags.portal_urls import fixed_url


@pytest.fixture(autouse=True)
def _restore():
    yield
    set_urlconf(None)
    set_script_prefix("/")


@pytest.mark.parametrize(
    "name", ["portal:home", "portal:messages", "portal:account", "portal:signout", "set_language"]
)
def test_the_same_as_reverse_on_clinic_hosts(name):
    assert fixed_url(name) == reverse(name)


def test_each_urlconf_and_prefix_has_its_own_answer(settings):
    set_urlconf(settings.PORTAL_PLATFORM_URLCONF)
    assert fixed_url("set_language") == reverse("set_language")
    set_urlconf(None)
    home = fixed_url("portal:home")
    set_script_prefix("/clinic-a/")
    assert fixed_url("portal:home") == "/clinic-a" + home
    assert fixed_url("portal:home") == reverse("portal:home")


def test_in_a_template():
    html = engines["django"].from_string("{% load portal_urls %}{% fixed_url 'portal:home' %}")
    assert html.render({}) == reverse("portal:home")
