from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from portal.notifications.services import notification_delivery_update


@csrf_exempt
@require_POST
def twilio_status(request):
    """Twilio's delivery report, accepted only with a valid X-Twilio-Signature."""
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not settings.TWILIO_AUTH_TOKEN or not validator.validate(
        request.build_absolute_uri(), request.POST.dict(), signature
    ):
        return HttpResponseForbidden()
    notification_delivery_update(
        clinic=request.clinic,
        message_sid=request.POST.get("MessageSid", ""),
        provider_status=request.POST.get("MessageStatus", ""),
    )
    return HttpResponse(status=204)
