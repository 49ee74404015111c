"""Portal pages of the health record, included under /portal/health-record/ in the
"portal" namespace."""

from django.urls import path

from records import views

urlpatterns = [
    path("results/", views.results, name="records-results"),
    path("results/preference/", views.results_preference, name="records-results-preference"),
]
