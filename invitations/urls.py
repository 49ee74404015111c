"""Portal pages for invitation links, included under /portal/ in the "portal" namespace."""

from django.urls import path

from invitations import views

urlpatterns = [
    path("invitation/", views.invitation, name="invitation"),
    path("invitation/<str:token>/", views.invitation_link, name="invitation-link"),
]
