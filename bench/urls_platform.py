"""The platform URLs plus ``/bench/bare``: the baseline every page is compared with.

A bare Django view behind the full production middleware stack, on the base domain (no
tenant look-up, no session cookie sent, no database, no template): what one request
through gunicorn and Django costs on this machine before the portal does anything.
"""

from django.http import HttpResponse
from django.urls import path

from portal.urls_platform import urlpatterns as platform_urlpatterns


def bare(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/bare", bare), *platform_urlpatterns]
