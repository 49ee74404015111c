from django.urls import path

from portal.staff import views

app_name = "staff"

urlpatterns = [
    path("", views.security, name="security"),
    path("password/", views.password_change, name="password"),
    path("two-factor/", views.two_factor_setup, name="two-factor"),
    path("backup-codes/", views.backup_codes_regenerate, name="backup-codes"),
    path("sign-out-everywhere/", views.sign_out_everywhere, name="sign-out-everywhere"),
    path("invitation/", views.invitation, name="invitation"),
    path("invitation/<str:token>/", views.invitation_link, name="invitation-link"),
]
