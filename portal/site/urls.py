"""The /portal/ URLconf: each app's own pages, composed under the "portal" namespace."""

from django.urls import include, path

from portal.site import views

app_name = "portal"

urlpatterns = [
    path("", views.portal_root, name="start"),
    path("", views.portal_root, name="home"),
    path("", include("patients.urls")),
    path("", include("invitations.urls")),
    path("appointments/", include("appointments.urls")),
    path("messages/", include("messaging.urls")),
    path("health-record/", include("records.urls")),
    path("account/record/", include("fhir_api.account_urls")),
]
