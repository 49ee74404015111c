"""URLs served on the bare base domain: a neutral landing page and the operators' admin."""

from django.urls import include, path

from clinics.admin_site import platform_admin_site
from portal.core import views as core_views

urlpatterns = [
    path("", core_views.platform_landing, name="platform-landing"),
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", platform_admin_site.urls),
]
