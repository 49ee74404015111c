"""Portal pages for appointments, included under /portal/appointments/ in the "portal"
namespace."""

urlpatterns: list = []
