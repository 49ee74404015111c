from celery import shared_task

from appointments.services import appointment_reminders_send


@shared_task(ignore_result=True)
def send_appointment_reminders():
    """Hourly: remind tomorrow's appointments (each one once, ever)."""
    return appointment_reminders_send()
