"""A refill request's answer reaches the patient as a message from the clinic: the
records feature decides (``records.services``) and sends ``refill_request_decided``;
this receiver, in the composition layer that may know both features, writes the message
through ``messaging.services`` in the deciding transaction."""

from django.utils import translation
from django.utils.translation import gettext as _

from messaging import services as messaging
from messaging.models import Thread
from records.models import RefillRequest
from records.signals import refill_request_decided


def refill_answer_text(refill_request: RefillRequest) -> tuple[str, str]:
    """The subject and body of the clinic's message, in the patient's language. They say
    that the clinic answered and where the answer is, nothing of the record: a
    representative may read the patient's messages without the health record (no
    medication, no decision, no answer here; the Medications page shows them to whoever
    may see the health record)."""
    with translation.override(refill_request.patient.preferred_language or None):
        subject = _("Your refill request was answered")
        body = _(
            "The clinic answered your refill request. Its answer is on the Medications "
            "page of your health record."
        )
        return subject, body


def refill_answer_message(sender, refill_request: RefillRequest, **kwargs) -> None:
    """Write the answer into the patient's messages, from the clinic (the deciding staff
    member or record system account, ``as_clinic``). The records service sends its own
    notice ("your refill request was answered"), so this message sends none."""
    subject, body = refill_answer_text(refill_request)
    messaging.thread_start(
        clinic=refill_request.clinic,
        patient=refill_request.patient,
        subject=subject,
        category=Thread.Category.PRESCRIPTION_REFILL,
        body=body,
        author=refill_request.decided_by,
        as_clinic=True,
        notice=False,
    )


def connect_receivers():
    refill_request_decided.connect(refill_answer_message, dispatch_uid="refill-answer-message")
