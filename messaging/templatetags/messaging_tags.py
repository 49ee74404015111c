from django import template

from messaging.selectors import unread_count_for_patient

register = template.Library()


@register.simple_tag(takes_context=True)
def portal_unread_messages(context):
    """Unread messages for the patient the request acts for; None when the account's
    access does not include messages (the page then shows no count)."""
    request = context.get("request")
    access = getattr(request, "access", None)
    if access is None or not access.allows("messages"):
        return None
    return unread_count_for_patient(clinic=request.clinic, patient=request.patient)
