from django.urls import path

from portal.staff import views

app_name = "staff"

urlpatterns = [
    path("", views.security, name="security"),
    path("password/", views.password_change, name="password"),
    path("sign-out-everywhere/", views.sign_out_everywhere, name="sign-out-everywhere"),
]
