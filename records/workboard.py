"""The records app's queue on the front desk's work screen (``clinics.workboard``)."""

from django.utils.translation import gettext_lazy as _

from clinics import workboard
from records.models import RefillRequest


def refill_requests(*, clinic, now):
    """Refill requests waiting for an answer, since the oldest."""
    waiting = RefillRequest.objects.for_clinic(clinic).pending()
    return workboard.tally(waiting, since="created_at")


def register_items():
    workboard.register(
        "records.refill_requests",
        order=37,
        label=_("Refill requests"),
        loader=refill_requests,
        url="admin:records_refillrequest_changelist",
        permission="records.view_refillrequest",
    )
