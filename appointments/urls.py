"""Portal pages for appointments, included under /portal/appointments/ in the "portal"
namespace."""

from django.urls import path

from appointments import views

urlpatterns = [
    path("", views.appointment_list, name="appointments"),
    path("book/", views.book, name="appointments-book"),
    path("book/confirm/", views.book_confirm, name="appointments-book-confirm"),
    path("<int:pk>/cancel/", views.cancel, name="appointments-cancel"),
    path("<int:pk>/earlier/", views.earlier_offers, name="appointments-earlier"),
    path("offer/", views.offer, name="appointments-offer"),
    path("offer/<str:token>/", views.offer_link, name="appointments-offer-link"),
    path("<int:pk>/calendar.ics", views.calendar_file, name="appointments-calendar"),
    path("request/", views.request_new, name="appointments-request"),
    path(
        "requests/<int:pk>/withdraw/", views.request_withdraw, name="appointments-request-withdraw"
    ),
    path("calendar/", views.calendar_feed_settings, name="appointments-feed-settings"),
    path("feed/<str:token>.ics", views.calendar_feed, name="appointments-feed"),
]
