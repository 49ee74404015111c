"""People and helpers for the French tests.

- ``rose``: Rose Tremblay's portal account (demo clinic). Her chart says French; she has
  an upcoming and a past appointment, a message from the clinic, a pending and a
  declined change request, a password, and she also acts for her husband Gérard.
- ``choose(client, language)``: what a person does with the switch on every page.
- ``ui_texts(html)``: the words a person reads on a page (and hears: aria-labels).
"""

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from appointments.models import Appointment, AppointmentType, Provider, WeeklyAvailability
from messaging import services as messaging
from patients import demographics
from patients.models import PatientAccess
from tests.factories import PatientFactory, PatientIdentifierFactory, UserFactory

ROSE_ID = "TREM 4512 0107"
ROSE_MOBILE = "+16135550144"
ROSE_EMAIL = "rose.tremblay@example.com"
SWITCH_URL = "/i18n/setlang/"


def choose(client, language, next_url="/portal/"):
    """Press the language button (a POST to Django's set_language, back to ``next``)."""
    response = client.post(SWITCH_URL, {"language": language, "next": next_url})
    assert response.status_code == 302, response
    return response


class _Texts(HTMLParser):
    """Text of each element a person reads, plus labels only heard (aria-label)."""

    READ = {
        "title", "h1", "h2", "h3", "p", "li", "a", "button", "label", "legend", "th",
        "td", "dt", "dd", "summary", "option", "span", "strong",
    }  # fmt: skip
    HEARD = ("aria-label", "title", "alt", "placeholder")

    def __init__(self):
        super().__init__()
        self.open = []  # [tag, [chunks]] of every element still open
        self.texts = set()
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in self.HEARD:
            if attrs.get(name):
                self._add(attrs[name])
        if tag == "input" and attrs.get("type") == "submit" and attrs.get("value"):
            self._add(attrs["value"])
        if tag in ("style", "script"):
            self.skip += 1
        if tag in self.READ:
            self.open.append([tag, []])

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self.skip -= 1
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                _tag, chunks = self.open.pop(i)
                self._add("".join(chunks))
                break

    def handle_data(self, data):
        if not self.skip:
            for _tag, chunks in self.open:
                chunks.append(data)

    def _add(self, text):
        text = " ".join(text.split())
        if text:
            self.texts.add(text)


def ui_texts(html: str) -> set[str]:
    parser = _Texts()
    parser.feed(html)
    parser.close()
    return parser.texts


def words_only(text: str, data: list[str]) -> str:
    """``text`` without the people's and clinic's own data, digits and punctuation."""
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    return re.sub(r"[\W\d_]+", " ", text).strip()


@pytest.fixture
def frozen_today():
    """Pages show dates: keep them away from a weekend or a month end."""
    import time_machine

    with time_machine.travel(dt.datetime(2030, 3, 4, 8, 0, tzinfo=dt.UTC), tick=False) as t:
        yield t


@pytest.fixture
def booking_rules(clinic):
    portal_settings = clinic.portal_settings
    portal_settings.booking_allowed = True
    portal_settings.cancelling_allowed = True
    portal_settings.cancel_cutoff_hours = 24
    portal_settings.save()
    return portal_settings


@pytest.fixture
def visit_type(clinic):
    return AppointmentType.objects.create(clinic=clinic, name="Regular visit", duration_minutes=15)


@pytest.fixture
def provider(clinic, visit_type):
    """Dre Lavoie works weekdays 9:00–12:00 (clinic time)."""
    doctor = Provider.objects.create(clinic=clinic, name="Dre Lavoie")
    doctor.appointment_types.add(visit_type)
    for weekday in range(5):
        WeeklyAvailability.objects.create(
            clinic=clinic,
            provider=doctor,
            weekday=weekday,
            start_time=dt.time(9),
            end_time=dt.time(12),
        )
    return doctor


@pytest.fixture
def rose_chart(clinic):
    chart = PatientFactory(
        clinic=clinic,
        first_name="Rose",
        last_name="Tremblay",
        date_of_birth=dt.date(1949, 6, 2),
        email=ROSE_EMAIL,
        mobile=ROSE_MOBILE,
        address_line1="12 rue Principale",
        city="Gatineau",
        region="QC",
        postal_code="J8X 1A1",
        preferred_language="fr",
    )
    PatientIdentifierFactory(patient=chart, number=ROSE_ID)
    return chart


@pytest.fixture
def rose(clinic, rose_chart):
    user = UserFactory(
        clinic=clinic,
        username="rose",
        first_name="Rose",
        last_name="Tremblay",
        email=ROSE_EMAIL,
        phone=ROSE_MOBILE,
    )
    PatientAccess.objects.create(clinic=clinic, user=user, patient=rose_chart)
    return user


@pytest.fixture
def gerard(clinic, rose):
    """Rose's husband; Rose acts for him (all scopes)."""
    chart = PatientFactory(
        clinic=clinic, first_name="Gérard", last_name="Tremblay", preferred_language="fr"
    )
    PatientAccess.objects.create(
        clinic=clinic, user=rose, patient=chart, relationship=PatientAccess.Relationship.SPOUSE
    )
    return chart


@pytest.fixture
def roses_portal(clinic, rose, rose_chart, gerard, provider, visit_type, booking_rules, fiona):
    """Everything Rose's pages can show: appointments, a message, requests. (Tests that
    check dates ask for ``frozen_today`` first.)"""
    now = timezone.now()
    rows = {}
    for name, days, status in (("upcoming", 7, "booked"), ("past", -30, "completed")):
        start = (now + dt.timedelta(days=days)).replace(hour=15, minute=0)
        rows[name] = Appointment.objects.create(
            clinic=clinic,
            patient=rose_chart,
            provider=provider,
            appointment_type=visit_type,
            start=start,
            end=start + dt.timedelta(minutes=15),
            status=status,
        )
    rows["thread"] = messaging.thread_start(
        clinic=clinic,
        patient=rose_chart,
        subject="Résultats de prise de sang",
        category="general",
        body="Bonjour Madame Tremblay, vos résultats sont normaux.",
        author=fiona,
    )
    declined = demographics.change_request_create(
        request=None, patient=rose_chart, requested_by=rose, proposed={"city": "Hull"}
    )
    demographics.change_request_decide(
        request=None,
        change_request=declined,
        decided_by=fiona,
        accept=set(),
        decline_reason="Adresse introuvable",
    )
    rows["pending"] = demographics.change_request_create(
        request=None, patient=rose_chart, requested_by=rose, proposed={"postal_code": "J8Y 2B2"}
    )
    return rows


@pytest.fixture
def fiona(front_desk):
    front_desk.first_name, front_desk.last_name = "Fiona", "Desk"
    front_desk.save(update_fields=["first_name", "last_name"])
    return front_desk


# The people's and clinic's own words, which no translation touches.
DATA = [
    "Demo Family Clinic",
    "Rose Tremblay",
    "Gérard Tremblay",
    "Rose",
    "Gérard",
    "Tremblay",
    "Fiona Desk",
    "Dre Lavoie",
    "Regular visit",
    "Résultats de prise de sang",
    "Bonjour Madame Tremblay, vos résultats sont normaux.",
    "Adresse introuvable",
    "12 rue Principale",
    "Gatineau",
    "Hull",
    "QC",
    ROSE_EMAIL,
    ROSE_MOBILE,
    "+1 613 555 0100",
]
