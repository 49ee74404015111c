"""URLs served on the bare base domain: a neutral landing page and the operators' admin."""

from django.urls import include, path
from django.views.generic import RedirectView

from clinics.admin_site import platform_admin_site
from portal.site import metrics as site_metrics
from portal.site import views as site_views

urlpatterns = [
    path("", site_views.platform_landing, name="platform-landing"),
    path("healthz", site_views.healthz, name="healthz"),
    path("readyz", site_views.readyz, name="readyz"),
    path("metrics", site_metrics.metrics, name="metrics"),
    path("source.tar.gz", site_views.source_code, name="source-code"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The staff member's own sign-in settings, beside the admin (portal.staff).
    path("admin/account/", include("portal.staff.urls")),
    # The admin's own password change is ours (it clears "must change password").
    path("admin/password_change/", RedirectView.as_view(pattern_name="staff:password")),
    path("admin/", platform_admin_site.urls),
]
