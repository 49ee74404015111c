"""Reads for appointments: free slots and the patient's lists."""

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, prefetch_related_objects
from django.utils import timezone

from appointments.models import (
    Appointment,
    AppointmentRequest,
    AppointmentType,
    AvailabilityException,
    CalendarFeed,
    Provider,
)


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


def working_intervals(provider, start_date: dt.date, days: int, tz, exceptions=None):
    """{day: [(start, end) aware datetimes]} from weekly hours and exceptions.

    ``exceptions``: the provider's exceptions of those days, when the caller loaded
    several providers' at once; else they are read here."""
    weekly = defaultdict(list)
    for row in provider.availability.all():
        weekly[row.weekday].append((row.start_time, row.end_time))
    end_date = start_date + dt.timedelta(days=days - 1)
    if exceptions is None:
        exceptions = AvailabilityException.objects.filter(
            provider=provider, date__range=(start_date, end_date)
        )
    by_day = defaultdict(list)
    for row in exceptions:
        by_day[row.date].append(row)
    result = {}
    for offset in range(days):
        day = start_date + dt.timedelta(days=offset)
        intervals = [(_local(day, s, tz), _local(day, e, tz)) for s, e in weekly[day.weekday()]]
        for exc in by_day[day]:
            if exc.kind == AvailabilityException.Kind.EXTRA and exc.start_time and exc.end_time:
                intervals.append((_local(day, exc.start_time, tz), _local(day, exc.end_time, tz)))
        for exc in by_day[day]:
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


def _open_starts(intervals, busy, length, now) -> dict[dt.date, list[dt.datetime]]:
    """The grid's start times in ``intervals`` ({day: [(start, end)]}) after ``now`` that
    overlap none of ``busy`` (sorted (start, end) pairs): binary search over the ends."""
    busy = _merged(busy)
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
    length = dt.timedelta(minutes=appointment_type.duration_minutes)
    intervals = working_intervals(provider, start_date, days, tz)
    window_start = _local(start_date, dt.time.min, tz)
    window_end = _local(start_date + dt.timedelta(days=days), dt.time.min, tz)
    busy = (
        Appointment.objects.active()
        .filter(provider=provider, start__lt=window_end, end__gt=window_start)
        .order_by("start")
        .values_list("start", "end")
    )
    return _open_starts(intervals, list(busy), length, now or timezone.now())


def first_free_provider(
    *, clinic, providers, appointment_type, start_date: dt.date, days: int, now=None, until=None
) -> dict[dt.date, list[tuple[dt.datetime, Provider]]]:
    """{day: [(start, provider)]}: each free start time of ``days`` days from
    ``start_date`` (none later than ``until``) with the first of ``providers`` (in their
    order) free then; the same times ``free_slots`` gives each provider.

    Three queries whatever the number of providers or days (their weekly hours are
    expected prefetched, as ``bookable_providers`` does): exceptions and visits of all
    the providers at once.
    """
    providers = list(providers)
    if not providers or days < 1:
        return {}
    tz = clinic.tz
    now = now or timezone.now()
    length = dt.timedelta(minutes=appointment_type.duration_minutes)
    last_day = start_date + dt.timedelta(days=days - 1)
    exceptions = defaultdict(list)
    for row in AvailabilityException.objects.for_clinic(clinic).filter(
        provider__in=providers, date__range=(start_date, last_day)
    ):
        exceptions[row.provider_id].append(row)
    busy = defaultdict(list)
    for provider_id, start, end in (
        Appointment.objects.for_clinic(clinic)
        .active()
        .filter(
            provider__in=providers,
            start__lt=_local(last_day + dt.timedelta(days=1), dt.time.min, tz),
            end__gt=_local(start_date, dt.time.min, tz),
        )
        .order_by("start")
        .values_list("provider_id", "start", "end")
    ):
        busy[provider_id].append((start, end))
    merged = defaultdict(dict)
    for provider in providers:
        intervals = working_intervals(
            provider, start_date, days, tz, exceptions=exceptions[provider.pk]
        )
        for day, starts in _open_starts(intervals, busy[provider.pk], length, now).items():
            for start in starts:
                if until is None or start <= until:
                    merged[day].setdefault(start, provider)
    return {day: sorted(times.items()) for day, times in sorted(merged.items())}


def bookable_types(clinic):
    return AppointmentType.objects.for_clinic(clinic).filter(is_active=True, bookable_online=True)


def bookable_providers(clinic, appointment_type=None):
    """Providers patients may book online (with ``appointment_type``, when given: else
    those offering any type patients may book), their weekly hours prefetched."""
    providers = Provider.objects.for_clinic(clinic).filter(is_active=True, bookable_online=True)
    if appointment_type is None:
        offered = bookable_types(clinic).filter(providers=OuterRef("pk"))
        providers = providers.filter(Exists(offered))
    else:
        providers = providers.filter(appointment_types=appointment_type)
    return providers.select_related("clinic").prefetch_related("availability").order_by("name")


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


@dataclass(frozen=True)
class WeekRow:
    """One line of the booking page's week: a day with its free times (``kind`` "times"),
    or a run of days without any ("none") or beyond the booking window ("closed")."""

    kind: str
    days: tuple[dt.date, ...]
    slots: tuple[tuple[dt.datetime, Provider], ...] = ()


@dataclass(frozen=True)
class BookingWeek:
    """The week (Monday to Sunday) the booking page shows. ``state``: "open", or
    "passed"/"beyond" when the whole week is before today or after the last day the
    clinic's booking window reaches (``last_day``); then ``rows`` is empty and nothing
    was computed. ``previous``/``following``: the Mondays to link to, if any."""

    first: dt.date
    today: dt.date
    last_day: dt.date
    window_days: int
    state: str
    rows: tuple[WeekRow, ...]
    previous: dt.date | None
    following: dt.date | None


def _grouped(rows):
    out = []
    for row in rows:
        if row.kind != "times" and out and out[-1].kind == row.kind:
            out[-1] = WeekRow(row.kind, out[-1].days + row.days)
        else:
            out.append(row)
    return tuple(out)


def booking_week(*, clinic, providers, appointment_type, day: dt.date, now=None) -> BookingWeek:
    """The free times of the week containing ``day`` for the booking page: days before
    today are left out, free times are computed for the days of that week inside the
    clinic's booking window only (at most 7), each time with the first provider free."""
    now = now or timezone.now()
    tz = clinic.tz
    window_days = clinic.portal_settings.booking_window_days
    until = now + dt.timedelta(days=window_days)
    today = timezone.localtime(now, tz).date()
    last_day = timezone.localtime(until, tz).date()
    week = dt.timedelta(days=7)
    first = day - dt.timedelta(days=day.weekday())
    this_week = today - dt.timedelta(days=today.weekday())
    last_week = last_day - dt.timedelta(days=last_day.weekday())
    if first < this_week:
        return BookingWeek(first, today, last_day, window_days, "passed", (), None, this_week)
    if first > last_week:
        return BookingWeek(first, today, last_day, window_days, "beyond", (), last_week, None)
    shown_from = max(first, today)
    shown_to = min(first + dt.timedelta(days=6), last_day)
    slots = first_free_provider(
        clinic=clinic,
        providers=providers,
        appointment_type=appointment_type,
        start_date=shown_from,
        days=(shown_to - shown_from).days + 1,
        now=now,
        until=until,
    )
    rows = []
    for offset in range((first + dt.timedelta(days=7) - shown_from).days):
        current = shown_from + dt.timedelta(days=offset)
        if current > last_day:
            rows.append(WeekRow("closed", (current,)))
        elif current in slots:
            rows.append(WeekRow("times", (current,), tuple(slots[current])))
        else:
            rows.append(WeekRow("none", (current,)))
    return BookingWeek(
        first,
        today,
        last_day,
        window_days,
        "open",
        _grouped(rows),
        first - week if first > this_week else None,
        first + week if first < last_week else None,
    )


@dataclass(frozen=True)
class ProviderDay:
    """One provider's day for the front desk: the start times free for a visit of the
    type (``free_slots``: in their hours, not taken, not past) and the day's visits."""

    day: dt.date
    free: tuple[dt.datetime, ...]
    visits: tuple[Appointment, ...]


def provider_day(*, clinic, provider, appointment_type, day: dt.date, now=None) -> ProviderDay:
    tz = clinic.tz
    offered = appointment_type is not None and (
        provider.appointment_types.filter(pk=appointment_type.pk).exists()
    )
    free = ()
    if offered:
        slots = free_slots(
            provider=provider, appointment_type=appointment_type, start_date=day, days=1, now=now
        )
        free = tuple(slots.get(day, ()))
    visits = (
        Appointment.objects.for_clinic(clinic)
        .active()
        .filter(
            provider=provider,
            start__lt=_local(day + dt.timedelta(days=1), dt.time.min, tz),
            end__gt=_local(day, dt.time.min, tz),
        )
        .select_related("patient", "appointment_type")
        .order_by("start")
    )
    return ProviderDay(day, free, tuple(visits))


# --- Appointment requests -----------------------------------------------------------------


def open_request_count(*, clinic, patient) -> int:
    """How many of the chart's requests are waiting for the clinic."""
    return AppointmentRequest.objects.for_clinic(clinic).pending().filter(patient=patient).count()


@dataclass(frozen=True)
class PendingRequests:
    """The front desk's queue at a glance: how many requests wait, and the oldest one."""

    count: int
    oldest: AppointmentRequest | None


def appointment_requests_pending(*, clinic) -> PendingRequests:
    """Waiting requests of the clinic: their number and the oldest (two queries), for a
    work screen's item."""
    waiting = AppointmentRequest.objects.for_clinic(clinic).pending()
    oldest = waiting.for_list().order_by("created_at", "pk").first()
    return PendingRequests(waiting.count() if oldest else 0, oldest)


# Answered requests a patient keeps seeing on the appointments page.
ANSWERED_SHOWN = 10


def requests_for_patient(*, clinic, patient) -> list[AppointmentRequest]:
    """The chart's waiting requests (oldest first) and its latest answered ones (newest
    first, at most ANSWERED_SHOWN): two queries, reading no visit (a booked request's
    visit is in the page's upcoming list)."""
    mine = (
        AppointmentRequest.objects.for_clinic(clinic)
        .filter(patient=patient)
        .select_related("provider", "appointment_type")
    )
    waiting = list(mine.pending().order_by("created_at", "pk"))
    answered = list(
        mine.exclude(status=AppointmentRequest.Status.PENDING).order_by("-created_at", "-pk")[
            :ANSWERED_SHOWN
        ]
    )
    return waiting + answered


def get_request_for_patient(request, pk) -> AppointmentRequest:
    """A request of the chart the signed-in person acts for, or 404."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        AppointmentRequest.objects.for_clinic(request.clinic).for_list(),
        pk=pk,
        patient=request.patient,
    )


# --- Private calendar feeds -----------------------------------------------------------------

# How far back the feed reaches: calendars keep what they already have.
FEED_DAYS_BACK = 90


def calendar_feed_of(*, clinic, user) -> CalendarFeed | None:
    return CalendarFeed.objects.for_clinic(clinic).filter(user=user).first()


def feed_for_token(*, clinic, token_hash: str) -> CalendarFeed | None:
    """The live feed with that digest in this clinic, its account loaded (one query);
    None for an unknown, reset or other clinic's address, or an inactive account."""
    return (
        CalendarFeed.objects.for_clinic(clinic)
        .select_related("user")
        .filter(
            token_hash=token_hash, user__is_active=True, user__is_staff=False, user__clinic=clinic
        )
        .first()
    )


def feed_visits(*, clinic, patient_ids, now=None) -> list[Appointment]:
    """Visits of the charts ``patient_ids`` from FEED_DAYS_BACK days ago on, cancelled
    ones included (the feed marks them CANCELLED), each holding ``clinic`` with its
    domains loaded (the events' UIDs name its domain): two queries, whatever the number."""
    now = now or timezone.now()
    prefetch_related_objects([clinic], "domains")
    visits = list(
        Appointment.objects.for_clinic(clinic)
        .filter(
            patient_id__in=list(patient_ids),
            start__gte=now - dt.timedelta(days=FEED_DAYS_BACK),
        )
        .select_related("provider")
        .order_by("start", "pk")
    )
    for visit in visits:
        visit.clinic = clinic
    return visits
