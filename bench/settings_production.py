"""The production settings, plus two bench-only URLs. Used by the bench scripts only.

``bench/urls_platform.py`` adds a bare view on the base domain and ``bench/urls_clinic.py``
a naive one-query page behind login on clinic hosts; nothing else differs from
``portal.settings.production``, and no product URLconf gains an endpoint.
"""

from portal.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls_clinic"
PORTAL_PLATFORM_URLCONF = "bench.urls_platform"
