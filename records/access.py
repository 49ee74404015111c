"""Who may open the health record's pages: for now the patient's own chart only.
Grants have no health-record scope yet, so a representative acting for someone else
gets a 404, as for anything outside what the session may reach."""

from functools import wraps

from django.http import Http404

from patients.access import patient_required


def own_record_required(view):
    """``patient_required`` (the chart the session acts for, from its grant), and that
    grant is the patient's own."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.access.acts_for_someone_else:
            raise Http404("the health record is shown to the patient only")
        return view(request, *args, **kwargs)

    return patient_required(wrapper)
