"""The clinic URLs plus ``/bench/one-query``: a naive signed-in page for reference.

One query and a one-line body behind ``login_required`` on a clinic host: the
"naive one-query page behind login" the issue measures at about 11 % of the bare view.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path

from patients.models import PatientAccess
from portal.urls_clinic import urlpatterns as clinic_urlpatterns


@login_required
def one_query(request):
    grants = PatientAccess.objects.for_clinic(request.clinic).filter(user=request.user).count()
    return HttpResponse(f"grants: {grants}".encode(), content_type="text/plain")


urlpatterns = [path("bench/one-query", one_query), *clinic_urlpatterns]
