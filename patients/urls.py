"""Portal pages for sign-in, registration, the account and My information, included
under /portal/ in the "portal" namespace (``portal.site.urls``)."""

from django.urls import path

from patients import views, views_information, views_terms

urlpatterns = [
    path("sign-in/contact/", views.signin_contact, name="signin-contact"),
    path("sign-in/check/", views.signin_check, name="signin-check"),
    path("sign-in/code/", views.signin_code, name="signin-code"),
    path("sign-in/code/resend/", views.signin_resend, name="signin-resend"),
    path("sign-in/password/", views.signin_password, name="signin-password"),
    path("sign-in/authenticator/", views.signin_authenticator, name="signin-authenticator"),
    path("sign-in/recovery-code/", views.signin_recovery_code, name="signin-recovery-code"),
    path("sign-out/", views.signout, name="signout"),
    path("session/keep-alive/", views.session_keep_alive, name="session-keep-alive"),
    path("register/", views.register, name="register"),
    path("password-reset/", views.password_reset, name="password-reset"),
    path("password-reset/set/", views.password_reset_set, name="password-reset-set"),
    path(
        "password-reset/<str:uidb64>/<str:token>/",
        views.password_reset_link,
        name="password-reset-link",
    ),
    path("switch/", views.switch_patient, name="switch-patient"),
    path("my-information/", views_information.my_information, name="my-information"),
    path(
        "my-information/change/",
        views_information.my_information_edit,
        name="my-information-edit",
    ),
    path(
        "my-information/confirm/",
        views_information.my_information_confirm,
        name="my-information-confirm",
    ),
    path(
        "my-information/notices/",
        views_information.notice_preferences,
        name="my-information-notices",
    ),
    path(
        "my-information/requests/<int:pk>/withdraw/",
        views_information.request_withdraw,
        name="my-information-withdraw",
    ),
    path("account/", views.account, name="account"),
    path("account/contact/", views.account_contact, name="account-contact"),
    path("account/contact/confirm/", views.account_contact_confirm, name="account-contact-confirm"),
    path("account/password/", views.account_password, name="account-password"),
    path("account/authenticator/", views.account_authenticator, name="account-authenticator"),
    path("account/recovery-codes/", views.account_recovery_codes, name="account-recovery-codes"),
    path("terms/", views_terms.terms, name="terms"),
    path("terms/accept/", views_terms.terms_accept_view, name="terms-accept"),
    path(
        "account/sign-out-everywhere/",
        views.account_signout_everywhere,
        name="account-signout-everywhere",
    ),
    path("account/activity/", views.account_activity_view, name="account-activity"),
]
