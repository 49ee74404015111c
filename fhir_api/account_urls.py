"""The patient's copy of their record, included under /portal/account/record/ in the
"portal" namespace (``portal.site.urls``)."""

from django.urls import path

from fhir_api import account_views

urlpatterns = [
    path("", account_views.record_summary, name="record-summary"),
    path("download/", account_views.record_download, name="record-download"),
]
