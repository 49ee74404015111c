from django.urls import path

from portal.notifications import views

app_name = "hooks"

urlpatterns = [
    path("twilio/status", views.twilio_status, name="twilio-status"),
]
