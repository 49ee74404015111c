"""Signals the records services send. Receivers live above the features (the
composition layer, ``portal.site``), which may know the other features."""

from django.dispatch import Signal

# A refill request was approved or declined (``refill_request``, locked, its status and
# answer set), in the deciding transaction: the receiver writes the clinic's answer to
# the patient's messages, so the decision and its message are kept or lost together.
refill_request_decided = Signal()
