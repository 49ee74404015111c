"""URLs served on a clinic's host (<slug>.<base domain> or a custom domain)."""

from django.urls import include, path
from django.views.generic import RedirectView

from clinics.admin_site import clinic_admin_site
from portal.site import views as site_views

urlpatterns = [
    path("", site_views.clinic_root, name="clinic-root"),
    path("portal/", include("portal.site.urls")),
    path("branding/logo", site_views.clinic_logo, name="clinic-logo"),
    # The clinic's FHIR R4 API for its record system (SMART Backend Services).
    path("fhir/R4/", include("fhir_api.urls", namespace="fhir")),
    path("hooks/", include("portal.notifications.urls", namespace="hooks")),
    # The language switch on every page posts to Django's set_language view.
    path("source.tar.gz", site_views.source_code, name="source-code"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The staff member's own sign-in settings, beside the admin (portal.staff).
    path("admin/account/", include("portal.staff.urls")),
    # The admin's own password change is ours (it clears "must change password").
    path("admin/password_change/", RedirectView.as_view(pattern_name="staff:password")),
    path("admin/", clinic_admin_site.urls),
]
