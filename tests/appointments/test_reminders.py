import datetime as dt

import pytest
import time_machine
from django.core import mail

from appointments.models import Appointment
from appointments.services import appointment_reminders_send
from appointments.tasks import send_appointment_reminders
from tests.appointments.schedule import TORONTO, local

pytestmark = pytest.mark.django_db


def _visit(visit_at, start, status=Appointment.Status.BOOKED):
    return visit_at(start, status=status, reason="private reason")


def test_it_reminds_tomorrows_visits_once_however_often_it_runs(
    visit_at, django_capture_on_commit_callbacks
):
    tomorrow = dt.date(2026, 11, 24)
    due = _visit(visit_at, local(tomorrow, 9))
    _visit(visit_at, local(tomorrow + dt.timedelta(days=1), 9))
    _visit(visit_at, local(tomorrow, 10), status=Appointment.Status.CANCELLED)
    evening_before = local(tomorrow - dt.timedelta(days=1), 18)
    with (
        time_machine.travel(evening_before, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert send_appointment_reminders.apply().get() == 1
        assert appointment_reminders_send() == 0
        assert send_appointment_reminders.apply().get() == 0
    assert len(mail.outbox) == 1
    assert "tomorrow" in mail.outbox[0].body
    assert "private reason" not in mail.outbox[0].body
    due.refresh_from_db()
    assert due.reminder_sent_at is not None


@pytest.mark.parametrize(
    ("today", "visit_day"),
    [
        (dt.date(2026, 3, 7), dt.date(2026, 3, 8)),  # the spring-forward day is 23 hours
        (dt.date(2026, 3, 8), dt.date(2026, 3, 9)),
        (dt.date(2026, 10, 31), dt.date(2026, 11, 1)),  # the fall-back day is 25 hours
        (dt.date(2026, 11, 1), dt.date(2026, 11, 2)),
    ],
)
def test_tomorrow_means_the_clinics_calendar_day_when_clocks_change(visit_at, today, visit_day):
    late = _visit(visit_at, local(visit_day, 23, 30))
    early = _visit(visit_at, local(visit_day, 0, 15))
    day_after = _visit(visit_at, local(visit_day + dt.timedelta(days=1), 0, 15))
    with time_machine.travel(local(today, 20), tick=False):
        appointment_reminders_send()
    for visit, reminded in ((late, True), (early, True), (day_after, False)):
        visit.refresh_from_db()
        assert (visit.reminder_sent_at is not None) is reminded, visit.start.astimezone(TORONTO)
