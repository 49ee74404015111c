"""Reads for appointments: free slots and the patient's lists."""

import bisect
import datetime as dt
from collections import defaultdict

from django.utils import timezone

from appointments.models import Appointment, AppointmentType, AvailabilityException, Provider


def _local(day: dt.date, time: dt.time, tz) -> dt.datetime:
    """The instant (in UTC) a wall-clock time happens on ``day`` in ``tz``.

    Slot arithmetic is done in UTC: Python adds a timedelta to a zoned datetime in wall
    time, which on the nights clocks change would invent or lose an hour.
    """
    return dt.datetime.combine(day, time).replace(tzinfo=tz).astimezone(dt.UTC)


def _subtract(intervals, cut):
    out = []
    for start, end in intervals:
        if cut[1] <= start or cut[0] >= end:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return out


def working_intervals(provider, start_date: dt.date, days: int, tz):
    """{day: [(start, end) aware datetimes]} from weekly hours and exceptions."""
    weekly = defaultdict(list)
    for row in provider.availability.all():
        weekly[row.weekday].append((row.start_time, row.end_time))
    exceptions = defaultdict(list)
    end_date = start_date + dt.timedelta(days=days - 1)
    for row in AvailabilityException.objects.filter(
        provider=provider, date__range=(start_date, end_date)
    ):
        exceptions[row.date].append(row)
    result = {}
    for offset in range(days):
        day = start_date + dt.timedelta(days=offset)
        intervals = [(_local(day, s, tz), _local(day, e, tz)) for s, e in weekly[day.weekday()]]
        for exc in exceptions[day]:
            if exc.kind == AvailabilityException.Kind.EXTRA and exc.start_time and exc.end_time:
                intervals.append((_local(day, exc.start_time, tz), _local(day, exc.end_time, tz)))
        for exc in exceptions[day]:
            if exc.kind == AvailabilityException.Kind.TIME_OFF:
                if exc.start_time is None or exc.end_time is None:
                    intervals = []
                else:
                    cut = (_local(day, exc.start_time, tz), _local(day, exc.end_time, tz))
                    intervals = _subtract(intervals, cut)
        result[day] = sorted(intervals)
    return result


def _merged(intervals):
    """Sorted intervals with overlapping ones joined: a visit staff booked over a conflict
    overlaps another, and the binary search needs ends in order."""
    merged = []
    for start, end in intervals:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def on_schedule(*, provider: Provider, appointment_type: AppointmentType, start) -> bool:
    """Whether ``start`` is a start time of the provider's grid: inside their hours that
    day, a whole number of appointment lengths from the start of those hours, with room
    for the whole visit before the hours end (the times ``free_slots`` offers, busy or not).
    """
    tz = provider.clinic.tz
    day = timezone.localtime(start, tz).date()
    length = dt.timedelta(minutes=appointment_type.duration_minutes)
    for begin, finish in working_intervals(provider, day, 1, tz)[day]:
        fits = begin <= start and start + length <= finish
        if fits and (start - begin) % length == dt.timedelta():
            return True
    return False


def free_slots(
    *,
    provider: Provider,
    appointment_type: AppointmentType,
    start_date: dt.date,
    days: int,
    now=None,
) -> dict[dt.date, list[dt.datetime]]:
    """Start times a patient may book: working hours minus active appointments, in the
    future, one slot per appointment length. One query for appointments, whatever the
    range; overlap tests by binary search over the provider's (non-overlapping) visits."""
    tz = provider.clinic.tz
    now = now or timezone.now()
    length = dt.timedelta(minutes=appointment_type.duration_minutes)
    intervals = working_intervals(provider, start_date, days, tz)
    window_start = _local(start_date, dt.time.min, tz)
    window_end = _local(start_date + dt.timedelta(days=days), dt.time.min, tz)
    busy = _merged(
        Appointment.objects.active()
        .filter(provider=provider, start__lt=window_end, end__gt=window_start)
        .order_by("start")
        .values_list("start", "end")
    )
    ends = [end for _start, end in busy]
    slots = {}
    for day, day_intervals in intervals.items():
        found = []
        for begin, finish in day_intervals:
            t = begin
            while t + length <= finish:
                i = bisect.bisect_right(ends, t)
                overlaps = i < len(busy) and busy[i][0] < t + length
                if t > now and not overlaps:
                    found.append(t)
                t += length
        if found:
            slots[day] = found
    return slots


def bookable_types(clinic):
    return AppointmentType.objects.for_clinic(clinic).filter(is_active=True, bookable_online=True)


def bookable_providers(clinic, appointment_type):
    return (
        Provider.objects.for_clinic(clinic)
        .filter(is_active=True, bookable_online=True)
        .filter(appointment_types=appointment_type)
        .select_related("clinic")
        .prefetch_related("availability")
        .order_by("name")
    )


def slots_for_any(*, providers, appointment_type, start_date, days, now=None, until=None):
    """{day: [(start, [providers free then])]} across several providers, none later than
    ``until`` when it is given."""
    merged = defaultdict(lambda: defaultdict(list))
    for provider in providers:
        for day, starts in free_slots(
            provider=provider,
            appointment_type=appointment_type,
            start_date=start_date,
            days=days,
            now=now,
        ).items():
            for start in starts:
                if until is None or start <= until:
                    merged[day][start].append(provider)
    return {day: sorted(times.items()) for day, times in sorted(merged.items())}


def upcoming_and_past(*, clinic, patient, now=None):
    """Two querysets of the patient's visits, each loading its related rows in one go:
    booked visits that have not ended, and visits that took place (or were due to: a
    booked one whose time is over, completed, missed). Cancelled visits are in neither
    (``cancelled_visits``)."""
    now = now or timezone.now()
    mine = Appointment.objects.for_clinic(clinic).filter(patient=patient).for_list()
    upcoming = mine.filter(status=Appointment.Status.BOOKED, end__gt=now).order_by("start")
    past = (
        mine.exclude(status=Appointment.Status.CANCELLED)
        .exclude(status=Appointment.Status.BOOKED, end__gt=now)
        .order_by("-start")
    )
    return upcoming, past


def cancelled_visits(*, clinic, patient):
    """The patient's cancelled visits, latest appointment time first."""
    return (
        Appointment.objects.for_clinic(clinic)
        .filter(patient=patient, status=Appointment.Status.CANCELLED)
        .for_list()
        .order_by("-start")
    )


def upcoming_count(*, clinic, patient, now=None) -> int:
    """How many booked visits the patient has that have not ended."""
    now = now or timezone.now()
    return (
        Appointment.objects.for_clinic(clinic)
        .filter(patient=patient, status=Appointment.Status.BOOKED, end__gt=now)
        .count()
    )


def overlapping(*, clinic, start, end, patient=None, provider=None):
    """The first active visit of the patient (or the provider) overlapping start–end."""
    visits = Appointment.objects.for_clinic(clinic).active().filter(start__lt=end, end__gt=start)
    if patient is not None:
        visits = visits.filter(patient=patient)
    if provider is not None:
        visits = visits.filter(provider=provider)
    return visits.for_list().order_by("start").first()


def get_appointment_for_patient(request, pk) -> Appointment:
    """The signed-in person's appointment for the chart they act for, or 404."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        Appointment.objects.for_clinic(request.clinic).for_list(), pk=pk, patient=request.patient
    )
