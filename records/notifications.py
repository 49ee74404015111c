"""The result notice renders with the clinic's name and a link, nothing else: never the
result, its test, its value or the patient's name."""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from portal.notifications.registry import Obsolete, register
from records.models import RefillRequest


@register("result_available", label=_("New result available"))
def result_available_context(notification):
    """To the patient: a result of their record became visible to them."""
    exists = (
        Patient.objects.for_clinic(notification.clinic)
        .filter(pk=notification.context["patient_id"], portal_revoked_at__isnull=True)
        .exists()
    )
    if not exists:
        raise Obsolete("the chart is gone or its portal access revoked")
    path = reverse("portal:records-results", urlconf=settings.ROOT_URLCONF)
    return {"link": notification.clinic.build_url(path)}


@register("refill_request_answered", label=_("Refill request answered"))
def refill_request_answered_context(notification):
    """To the patient: the clinic answered a refill request. Only that it answered: the
    medication, the decision and the answer stay in the portal, behind sign-in."""
    exists = (
        RefillRequest.objects.for_clinic(notification.clinic)
        .filter(
            pk=notification.context["refill_request_id"],
            patient__portal_revoked_at__isnull=True,
        )
        .exists()
    )
    if not exists:
        raise Obsolete("the request is gone or the chart's portal access revoked")
    path = reverse("portal:messages", urlconf=settings.ROOT_URLCONF)
    return {"link": notification.clinic.build_url(path)}
