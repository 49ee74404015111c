"""Signals the appointments services send (receivers connect in ``AppointmentsConfig.ready``)."""

from django.dispatch import Signal

# A cancellation gave back a time still ahead, recorded as ``slot`` (a FreedSlot), in
# the cancelling transaction. The offers are queued by a receiver, after commit.
time_freed = Signal()
