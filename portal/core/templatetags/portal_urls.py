"""``{% fixed_url 'portal:home' %}``: ``{% url %}`` for a URL that takes no arguments,
reversed once per process for each URLconf and script prefix.

The site header and the home page link to the same dozen fixed URLs on every page, and
``reverse()`` walks the resolver each time (about 25 microseconds a link). A fixed URL
can only change with the URLconf (the tenant middleware picks the clinic's or the
platform's per request) or the script prefix, so those are the cache key. URLs with
arguments keep using ``{% url %}``.
"""

from functools import lru_cache

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()


@lru_cache(maxsize=256)
def _reverse(name, urlconf, prefix):
    return reverse(name, urlconf=urlconf)


@register.simple_tag
def fixed_url(name):
    return _reverse(name, get_urlconf(), get_script_prefix())
