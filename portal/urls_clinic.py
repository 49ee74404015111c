"""URLs served on a clinic's host (<slug>.<base domain> or a custom domain)."""

from django.urls import include, path

from clinics.admin_site import clinic_admin_site
from portal.core import views as core_views

urlpatterns = [
    path("", core_views.clinic_root, name="clinic-root"),
    path("portal/", include("patients.urls", namespace="portal")),
    path("branding/logo", core_views.clinic_logo, name="clinic-logo"),
    path("hooks/", include("portal.notifications.urls", namespace="hooks")),
    # The language switch on every page posts to Django's set_language view.
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", clinic_admin_site.urls),
]
