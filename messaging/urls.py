"""Portal pages for messages, included under /portal/messages/ in the "portal" namespace."""

urlpatterns: list = []
