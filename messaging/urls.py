"""Portal pages for messages, included under /portal/messages/ in the "portal" namespace."""

from django.urls import path

from messaging import views

urlpatterns = [
    path("", views.inbox, name="messages"),
    path("new/", views.thread_new, name="messages-new"),
    path("<int:pk>/", views.thread_detail, name="messages-thread"),
    path("attachments/<int:pk>/", views.attachment_download, name="messages-attachment"),
]
