"""Portal pages of the health record, included under /portal/health-record/ in the
"portal" namespace."""

from django.urls import path

from records import views, views_chart

urlpatterns = [
    path("results/", views.results, name="records-results"),
    path("results/preference/", views.results_preference, name="records-results-preference"),
    path("medications/", views_chart.medications, name="records-medications"),
    path(
        "medications/<int:pk>/refill/",
        views_chart.medication_refill,
        name="records-medication-refill",
    ),
    path("allergies/", views_chart.allergies, name="records-allergies"),
    path("immunizations/", views_chart.immunizations, name="records-immunizations"),
    path("documents/", views_chart.documents, name="records-documents"),
    path("documents/<int:pk>/", views_chart.document_download, name="records-document-download"),
]
