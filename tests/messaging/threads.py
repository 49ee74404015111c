"""Threads as staff start them, committed (the patient's side is notified)."""

from messaging import services
from tests.clients import committed


def start_thread(staff, patient, *, subject="Your test results", body="Please call us.", **kw):
    """Staff start a thread (committed: the patient's side is notified)."""
    return committed(
        services.thread_start,
        clinic=patient.clinic,
        patient=patient,
        subject=subject,
        category=kw.pop("category", "general"),
        body=body,
        author=staff,
        **kw,
    )
