"""Who may open the health record's pages and files: the patient, and a representative
whose grant allows the health record (``PatientAccess.allows``: a parent or guardian of a
young child by the clinic's age rule, anyone else only when staff granted it). Anyone
else gets a 404, on every page and file, whatever the method: the answer of a page that
is not there, as for an id of another chart."""

from functools import wraps

from django.http import Http404

from patients.access import patient_required
from patients.models import PatientAccess


def health_record_required(view):
    """``patient_required`` (the chart the session acts for, from its grant), and that
    grant allows the health record."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.access.allows(PatientAccess.HEALTH_RECORD):
            raise Http404("the grant does not cover the health record")
        return view(request, *args, **kwargs)

    return patient_required(wrapper)
