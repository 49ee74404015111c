"""The patient's health record, included under /portal/health-record/ as "records"."""

from django.urls import path

from records import views_chart

app_name = "records"

urlpatterns = [
    path("medications/", views_chart.medications, name="medications"),
    path("allergies/", views_chart.allergies, name="allergies"),
    path("immunizations/", views_chart.immunizations, name="immunizations"),
    path("documents/", views_chart.documents, name="documents"),
    path("documents/<int:pk>/", views_chart.document_download, name="document-download"),
]
