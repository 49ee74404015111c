"""Each portal account's private calendar feed: the visits it may see, as calendars read
them; a reset address stops at once."""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from icalendar import Calendar

from appointments.models import Appointment, CalendarFeed
from appointments.services import calendar_feed_reset
from portal.audit.models import AuditEvent
from tests.appointments.schedule import NOW, TORONTO, local
from tests.clients import host_client, portal_client
from tests.factories import (
    AppointmentFactory,
    PatientAccessFactory,
    PatientFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TUESDAY = NOW.date() + dt.timedelta(days=1)
SETTINGS = "/portal/appointments/calendar/"


def _feed_path(token):
    return f"/portal/appointments/feed/{token}.ics"


def _events(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_the_account_gets_its_address_once_and_the_feed_lists_its_visits(
    grant, provider, visit_type, visit_at, frozen
):
    mine = visit_at(local(TUESDAY, 9), reason="chest pain")
    gone = visit_at(local(TUESDAY, 10), status=Appointment.Status.CANCELLED)
    someone_else = visit_at(local(TUESDAY, 11), patient=PatientFactory(clinic=grant.clinic))
    client = portal_client(grant.user, grant.patient)
    assert "Subscribe in your calendar app" in client.get("/portal/appointments/").content.decode()
    response = client.post(SETTINGS, {"action": "reset"})
    assert response.status_code == 302 and response["Location"] == SETTINGS
    page = client.get(SETTINGS).content.decode()
    [url] = re.findall(
        r'value="(http://demo\.localhost/portal/appointments/feed/[^"]+\.ics)"', page
    )
    assert "webcal://demo.localhost/portal/appointments/feed/" in page
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    # Shown once: the next view of the page does not have it, and it is not stored.
    assert token not in client.get(SETTINGS).content.decode()
    assert not CalendarFeed.objects.filter(token_hash=token).exists()

    response = host_client("demo").get(_feed_path(token))
    events = _events(response)
    domain = grant.clinic.canonical_domain
    assert set(events) == {f"appointment-{mine.pk}@{domain}", f"appointment-{gone.pk}@{domain}"}
    event = events[f"appointment-{mine.pk}@{domain}"]
    assert event.decoded("dtstart") == local(TUESDAY, 9)
    assert event.decoded("dtstart").tzinfo.key == TORONTO.key
    assert str(event["status"]) == "CONFIRMED"
    assert str(events[f"appointment-{gone.pk}@{domain}"]["status"]) == "CANCELLED"
    assert b"chest pain" not in response.content
    assert f"appointment-{someone_else.pk}@".encode() not in response.content
    assert b"METHOD" not in response.content
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert AuditEvent.objects.filter(action="calendar_feed.created", actor=grant.user).exists()


def test_the_feeds_uid_is_the_one_the_emails_calendar_file_carries(grant, visit_at, frozen):
    from appointments.calendar import appointment_calendar

    visit = visit_at(local(TUESDAY, 9))
    token = calendar_feed_reset(clinic=grant.clinic, user=grant.user)
    [feed_uid] = _events(host_client("demo").get(_feed_path(token)))
    emailed = Calendar.from_ical(appointment_calendar(visit))
    [event] = emailed.walk("VEVENT")
    assert str(event["uid"]) == feed_uid


def test_a_reset_address_is_a_404_at_once_and_the_new_one_works(grant, visit_at, frozen):
    visit_at(local(TUESDAY, 9))
    old = calendar_feed_reset(clinic=grant.clinic, user=grant.user)
    client = portal_client(grant.user, grant.patient)
    client.post(SETTINGS, {"action": "reset"})
    assert host_client("demo").get(_feed_path(old)).status_code == 404
    [new] = CalendarFeed.objects.filter(user=grant.user)
    assert AuditEvent.objects.filter(action="calendar_feed.reset", actor=grant.user).exists()
    token = client.get(SETTINGS).context["https_url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert host_client("demo").get(_feed_path(token)).status_code == 200
    client.post(SETTINGS, {"action": "stop"})
    assert host_client("demo").get(_feed_path(token)).status_code == 404
    assert AuditEvent.objects.filter(action="calendar_feed.stopped").exists()


def test_a_representative_sees_the_visits_of_those_they_book_for_only(
    clinic, provider, visit_type, frozen
):
    carer = UserFactory(clinic=clinic)
    booked_for = PatientFactory(clinic=clinic)
    not_for_visits = PatientFactory(clinic=clinic)
    PatientAccessFactory(user=carer, patient=booked_for, relationship="carer")
    PatientAccessFactory(
        user=carer, patient=not_for_visits, relationship="carer", can_appointments=False
    )
    shown = AppointmentFactory(
        patient=booked_for, provider=provider, appointment_type=visit_type, start=local(TUESDAY, 9)
    )
    hidden = AppointmentFactory(
        patient=not_for_visits,
        provider=provider,
        appointment_type=visit_type,
        start=local(TUESDAY, 10),
    )
    token = calendar_feed_reset(clinic=clinic, user=carer)
    events = _events(host_client("demo").get(_feed_path(token)))
    assert [uid.split("@")[0] for uid in events] == [f"appointment-{shown.pk}"]
    assert hidden.pk != shown.pk


def test_an_address_on_another_clinics_host_or_a_made_up_one_is_a_404(grant, other_clinic, frozen):
    token = calendar_feed_reset(clinic=grant.clinic, user=grant.user)
    assert host_client("northside").get(_feed_path(token)).status_code == 404
    assert host_client("demo").get(_feed_path("x" * 43)).status_code == 404


def test_a_deactivated_account_feeds_nothing(grant, frozen):
    token = calendar_feed_reset(clinic=grant.clinic, user=grant.user)
    grant.user.is_active = False
    grant.user.save()
    assert host_client("demo").get(_feed_path(token)).status_code == 404


def test_the_feed_runs_a_fixed_number_of_queries_with_1_and_60_visits(
    grant, provider, visit_type, frozen, django_assert_num_queries
):
    token = calendar_feed_reset(clinic=grant.clinic, user=grant.user)
    client = host_client("demo")

    def visits(count, first_day):
        Appointment.objects.bulk_create(
            AppointmentFactory.build(
                patient=grant.patient,
                provider=provider,
                appointment_type=visit_type,
                start=local(first_day + dt.timedelta(days=i // 3), 9 + i % 3),
            )
            for i in range(count)
        )

    visits(1, TUESDAY)
    client.get(_feed_path(token))  # warm the per-process caches
    # Counted with the shared cache emptied (the tenant and the grants come from it, in
    # one or two queries by cache backend): the clinic, the feed, the grants, the
    # clinic's domains, the visits.
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert len(_events(client.get(_feed_path(token)))) == 1
    one = len(queries)
    assert one <= 8
    visits(59, TUESDAY + dt.timedelta(days=1))
    cache.clear()
    with django_assert_num_queries(one):
        assert len(_events(client.get(_feed_path(token)))) == 60
