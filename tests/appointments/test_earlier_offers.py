"""Earlier-time offers: patients ask per visit; a cancellation offers its time to them a
batch at a time, by a single-use link; the first to accept gets it."""

import datetime as dt
import re
import threading

import pytest
from django.core import mail
from django.db import connection, connections

from appointments import offers, services
from appointments.models import Appointment, FreedSlot, SlotOffer
from patients.models import PatientAccess
from portal.audit.models import AuditEvent
from tests.appointments.schedule import NOW, local
from tests.clients import committed, portal_client, staff_client
from tests.factories import (
    AppointmentFactory,
    PatientAccessFactory,
    PatientFactory,
    UserFactory,
    portal_settings_of,
)

pytestmark = pytest.mark.django_db

WEDNESDAY = NOW.date() + dt.timedelta(days=2)
FRIDAY = NOW.date() + dt.timedelta(days=4)
FREED = local(WEDNESDAY, 9)
LINK = re.compile(r"https?://\S+/portal/appointments/offer/[^/\s]+/")


@pytest.fixture
def offer_rules(booking_rules):
    """Patients book and cancel; freed times go two patients at a time, for 4 hours."""
    return portal_settings_of(
        booking_rules.clinic,
        earlier_offers_enabled=True,
        earlier_offers_batch_size=2,
        earlier_offers_validity_hours=4,
    )


@pytest.fixture
def waiting(clinic, provider, visit_type):
    """``waiting(name, start, asked)``: a patient with a portal account and a visit with
    Dr Osei at ``start``, who asked for an earlier time ``asked`` hours before NOW."""

    def make(name, start, asked=1, **fields):
        grant = PatientAccessFactory(
            patient=PatientFactory(
                clinic=clinic, first_name=name, email=f"{name.lower()}@example.com"
            )
        )
        visit = AppointmentFactory(
            patient=grant.patient,
            provider=provider,
            appointment_type=visit_type,
            start=start,
            earlier_offers_since=NOW - dt.timedelta(hours=asked) if asked is not None else None,
            **fields,
        )
        return grant, visit

    return make


@pytest.fixture
def freed(waiting):
    """Bea holds Wednesday 9:00 (she did not ask for anything)."""
    return waiting("Bea", FREED, asked=None)


def _cancel(visit, by=None):
    committed(services.appointment_cancel, appointment=visit, cancelled_by=by, by_staff=by is None)


def _offers_to(address):
    return [m for m in mail.outbox if m.to == [address] and "earlier" in m.subject]


def _link(message):
    return LINK.search(message.body).group(0)


def _open(client, link):
    """Follow the emailed link as a browser would: into the session, then the page."""
    response = client.get(link)
    assert response.status_code == 302
    assert response["Referrer-Policy"] == "no-referrer"
    return client.get(response["Location"])


# --- Asking and no longer asking ----------------------------------------------------------


def test_a_patient_asks_for_an_earlier_time_for_one_visit_and_stops(
    grant, visit_at, offer_rules, frozen
):
    visit = visit_at(local(FRIDAY, 10))
    client = portal_client(grant.user)
    page = client.get("/portal/appointments/").content.decode()
    assert "Offer me an earlier time if one frees up" in page
    url = f"/portal/appointments/{visit.pk}/earlier/"
    assert client.get(url).status_code == 200
    assert client.post(url, {"wanted": "1"}).status_code == 302
    visit.refresh_from_db()
    assert visit.earlier_offers_since == NOW
    page = client.get("/portal/appointments/").content.decode()
    assert "You will be offered an earlier time if one frees up." in page
    assert client.post(url, {"wanted": "0"}).status_code == 302
    visit.refresh_from_db()
    assert visit.earlier_offers_since is None
    actions = AuditEvent.objects.filter(acting_for=grant.patient).values_list("action", flat=True)
    assert {"appointment.earlier_offers_on", "appointment.earlier_offers_off"} <= set(actions)


def test_nobody_asks_for_another_patients_or_another_clinics_visit(
    grant, clinic, charlie, visit_at, offer_rules, frozen
):
    bobs = visit_at(local(FRIDAY, 10), patient=PatientFactory(clinic=clinic))
    url = f"/portal/appointments/{bobs.pk}/earlier/"
    assert portal_client(grant.user).post(url, {"wanted": "1"}).status_code == 404
    outsider = PatientAccessFactory(patient=PatientFactory(clinic=charlie.clinic)).user
    assert portal_client(outsider).post(url, {"wanted": "1"}).status_code == 404
    bobs.refresh_from_db()
    assert bobs.earlier_offers_since is None


def test_a_representative_asks_only_with_the_appointments_scope(
    grant, clinic, visit_at, offer_rules, frozen
):
    visit = visit_at(local(FRIDAY, 10))
    url = f"/portal/appointments/{visit.pk}/earlier/"
    mother = UserFactory(clinic=clinic)
    PatientAccessFactory(
        user=mother,
        patient=grant.patient,
        relationship=PatientAccess.Relationship.CARER,
        can_appointments=False,
    )
    assert portal_client(mother, grant.patient).post(url, {"wanted": "1"}).status_code == 403
    carer = UserFactory(clinic=clinic)
    PatientAccessFactory(
        user=carer, patient=grant.patient, relationship=PatientAccess.Relationship.CARER
    )
    assert portal_client(carer, grant.patient).post(url, {"wanted": "1"}).status_code == 302
    visit.refresh_from_db()
    assert visit.earlier_offers_since == NOW


def test_asking_is_refused_when_the_clinic_does_not_offer_freed_times(
    grant, visit_at, booking_rules, frozen
):
    visit = visit_at(local(FRIDAY, 10))
    client = portal_client(grant.user)
    assert "earlier time" not in client.get("/portal/appointments/").content.decode()
    response = client.post(f"/portal/appointments/{visit.pk}/earlier/", {"wanted": "1"})
    assert response.status_code == 403
    visit.refresh_from_db()
    assert visit.earlier_offers_since is None


# --- Offering ------------------------------------------------------------------------------


def test_a_cancellation_in_the_portal_offers_the_time_without_naming_the_visit(
    freed, waiting, offer_rules, frozen
):
    ada, _later = waiting("Ada", local(FRIDAY, 10), reason="sore throat")
    bea, bea_visit = freed
    client = portal_client(bea.user, committing=True)
    assert client.post(f"/portal/appointments/{bea_visit.pk}/cancel/").status_code == 302
    [offer_mail] = _offers_to("ada@example.com")
    assert LINK.search(offer_mail.body)
    for part in (offer_mail.subject, offer_mail.body, offer_mail.alternatives[0][0]):
        assert "Dr Osei" not in part
        assert "Regular visit" not in part
        assert "sore throat" not in part
    offer = SlotOffer.objects.get()
    token = _link(offer_mail).rstrip("/").rsplit("/", 1)[1]
    assert offer.token_hash and token not in offer.token_hash
    assert not _offers_to("bea@example.com")


def test_a_cancellation_in_the_admin_offers_the_time(
    clinic, front_desk, freed, waiting, offer_rules, frozen
):
    waiting("Ada", local(FRIDAY, 10))
    _bea, bea_visit = freed
    client = staff_client(front_desk, committing=True)
    response = client.post(
        "/admin/appointments/appointment/",
        {"action": "cancel", "_selected_action": [bea_visit.pk]},
    )
    assert response.status_code == 302
    bea_visit.refresh_from_db()
    assert bea_visit.status == Appointment.Status.CANCELLED
    assert len(_offers_to("ada@example.com")) == 1


def test_offers_go_a_batch_at_a_time_to_those_who_asked_first(
    clinic, freed, waiting, colleague, visit_type, offer_rules, frozen
):
    waiting("Cai", local(FRIDAY, 11), asked=1)
    waiting("Dee", local(FRIDAY, 9), asked=3)
    waiting("Eve", local(FRIDAY, 10), asked=2)
    waiting("Fay", local(FRIDAY, 10, 15), asked=None)  # did not ask
    waiting("Gus", local(NOW.date() + dt.timedelta(days=1), 9), asked=5)  # sooner already
    hal = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Hal", email="hal@example.com")
    )
    AppointmentFactory(  # another provider
        patient=hal.patient,
        provider=colleague,
        appointment_type=visit_type,
        start=local(FRIDAY, 9),
        earlier_offers_since=NOW - dt.timedelta(hours=9),
    )
    _cancel(freed[1])
    assert [m.to[0] for m in mail.outbox if "earlier" in m.subject] == [
        "dee@example.com",
        "eve@example.com",
    ]
    slot = FreedSlot.objects.get()
    assert slot.batches_sent == 1
    assert slot.batch_ends_at == NOW + dt.timedelta(hours=4)
    # Within the window nothing more goes out, however often the task runs.
    frozen.shift(dt.timedelta(hours=3, minutes=59))
    assert committed(offers.freed_times_advance) == 0
    frozen.shift(dt.timedelta(minutes=1))
    assert committed(offers.freed_times_advance) == 1
    assert _offers_to("cai@example.com")
    frozen.shift(dt.timedelta(hours=4))
    assert committed(offers.freed_times_advance) == 0
    slot.refresh_from_db()
    assert slot.status == FreedSlot.Status.CLOSED
    for name in ("fay", "gus", "hal", "bea"):
        assert not _offers_to(f"{name}@example.com")


def test_nothing_is_offered_when_the_clinic_does_not_offer_freed_times(
    freed, waiting, booking_rules, frozen
):
    waiting("Ada", local(FRIDAY, 10))
    _cancel(freed[1])
    assert not FreedSlot.objects.exists()
    assert not _offers_to("ada@example.com")


# --- The link ------------------------------------------------------------------------------


def test_the_first_to_accept_gets_the_time_and_the_next_is_told_it_was_taken(
    freed, waiting, offer_rules, frozen
):
    ada, ada_visit = waiting("Ada", local(FRIDAY, 10), asked=2, reason="sore throat")
    eve, eve_visit = waiting("Eve", local(FRIDAY, 11), asked=1)
    _cancel(freed[1])
    ada_link = _link(_offers_to("ada@example.com")[0])
    eve_link = _link(_offers_to("eve@example.com")[0])
    client = portal_client(ada.user, committing=True)
    page = _open(client, ada_link)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Take the earlier time" in text
    assert "Dr Osei" in text and "Regular visit" in text
    mail.outbox.clear()
    response = client.post("/portal/appointments/offer/")
    assert response.status_code == 302
    ada_visit.refresh_from_db()
    assert ada_visit.status == Appointment.Status.CANCELLED
    new = Appointment.objects.get(patient=ada.patient, status=Appointment.Status.BOOKED)
    assert new.start == FREED
    assert new.reason == "sore throat"
    booked = [m for m in mail.outbox if m.to == ["ada@example.com"] and "is booked" in m.body]
    assert booked and booked[0].attachments
    assert AuditEvent.objects.filter(action="appointment.offer_accepted", acting_for=ada.patient)
    # The link works once.
    assert client.get(ada_link).status_code == 302
    assert client.get("/portal/appointments/offer/").status_code == 410
    # Eve is told, and her visit stays.
    page = _open(portal_client(eve.user), eve_link)
    assert page.status_code == 410
    assert "This time has already been taken." in page.content.decode()
    eve_visit.refresh_from_db()
    assert eve_visit.status == Appointment.Status.BOOKED


def test_taking_the_offer_frees_the_later_time_for_the_next_patients(
    freed, waiting, offer_rules, frozen
):
    ada, _ada_visit = waiting("Ada", local(FRIDAY, 10), asked=2)
    waiting("Ivy", local(FRIDAY, 11), asked=1)
    offer_rules.earlier_offers_batch_size = 1
    offer_rules.save()
    _cancel(freed[1])
    assert not _offers_to("ivy@example.com")
    client = portal_client(ada.user, committing=True)
    _open(client, _link(_offers_to("ada@example.com")[0]))
    client.post("/portal/appointments/offer/")
    # Ada's Friday 10:00 is free now, and Ivy's visit is later: she is offered it.
    assert len(_offers_to("ivy@example.com")) == 1
    assert FreedSlot.objects.filter(start=local(FRIDAY, 10)).exists()


def test_an_expired_link_says_so(freed, waiting, offer_rules, frozen):
    ada, ada_visit = waiting("Ada", local(FRIDAY, 10))
    _cancel(freed[1])
    link = _link(_offers_to("ada@example.com")[0])
    frozen.shift(dt.timedelta(hours=4))
    client = portal_client(ada.user)
    page = _open(client, link)
    assert page.status_code == 410
    assert "This offer has expired." in page.content.decode()
    assert client.post("/portal/appointments/offer/").status_code == 410
    ada_visit.refresh_from_db()
    assert ada_visit.status == Appointment.Status.BOOKED


def test_the_booking_rules_still_apply_when_accepting(
    freed, waiting, colleague, visit_type, offer_rules, frozen
):
    ada, ada_visit = waiting("Ada", local(FRIDAY, 10))
    # Ada has another visit, with Dr Bell, at the freed time.
    AppointmentFactory(
        patient=ada.patient, provider=colleague, appointment_type=visit_type, start=FREED
    )
    _cancel(freed[1])
    client = portal_client(ada.user)
    _open(client, _link(_offers_to("ada@example.com")[0]))
    response = client.post("/portal/appointments/offer/")
    assert response.status_code == 403
    assert "You already have an appointment at that time." in response.content.decode()
    ada_visit.refresh_from_db()
    assert ada_visit.status == Appointment.Status.BOOKED
    assert not Appointment.objects.filter(provider=ada_visit.provider, start=FREED).active()


def test_the_visit_being_replaced_does_not_count_against_the_patients_limits(
    freed, waiting, offer_rules, frozen
):
    offer_rules.max_upcoming_appointments = 1
    offer_rules.save()
    # Ada's later visit overlaps the freed time's end, and is her one allowed visit.
    ada, _visit = waiting("Ada", FREED + dt.timedelta(minutes=5), conflict_override=True)
    _cancel(freed[1])
    client = portal_client(ada.user)
    _open(client, _link(_offers_to("ada@example.com")[0]))
    assert client.post("/portal/appointments/offer/").status_code == 302
    assert Appointment.objects.get(patient=ada.patient, status="booked").start == FREED


def test_the_link_asks_for_a_sign_in_and_is_for_its_patient_only(
    clinic, freed, waiting, offer_rules, frozen
):
    ada, ada_visit = waiting("Ada", local(FRIDAY, 10))
    _cancel(freed[1])
    link = _link(_offers_to("ada@example.com")[0])
    anonymous = portal_client(ada.user)
    anonymous.logout()
    page = _open(anonymous, link)
    assert "Sign in to see this offer" in page.content.decode()
    assert "Dr Osei" not in page.content.decode()
    # Signing in returns to the offer (a path the sign-in's safe return accepts).
    assert anonymous.session["portal_next_after_signin"] == "/portal/appointments/offer/"
    someone = PatientAccessFactory(patient=PatientFactory(clinic=clinic)).user
    client = portal_client(someone)
    assert _open(client, link).status_code == 404
    assert client.post("/portal/appointments/offer/").status_code == 404
    ada_visit.refresh_from_db()
    assert ada_visit.status == Appointment.Status.BOOKED


def test_a_time_booked_directly_meanwhile_is_taken(
    clinic, freed, waiting, provider, visit_type, offer_rules, frozen
):
    ada, ada_visit = waiting("Ada", local(FRIDAY, 10))
    _cancel(freed[1])
    services.appointment_book(
        patient=PatientFactory(clinic=clinic),
        provider=provider,
        appointment_type=visit_type,
        start=FREED,
        booked_by=None,
        by_staff=True,
    )
    client = portal_client(ada.user)
    _open(client, _link(_offers_to("ada@example.com")[0]))
    response = client.post("/portal/appointments/offer/")
    assert response.status_code == 410
    assert "This time has already been taken." in response.content.decode()
    ada_visit.refresh_from_db()
    assert ada_visit.status == Appointment.Status.BOOKED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ten_patients_accepting_at_once_get_one_time(clinic, provider, visit_type):
    """The freed time's row lock decides: one winner, one later visit released."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks; this run uses " + connection.vendor)
    portal_settings_of(
        clinic,
        booking_allowed=True,
        cancelling_allowed=True,
        earlier_offers_enabled=True,
        earlier_offers_batch_size=10,
    )
    monday = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday())
    freed_start = local(monday, 9)
    bea = AppointmentFactory(
        patient=PatientFactory(clinic=clinic),
        provider=provider,
        appointment_type=visit_type,
        start=freed_start,
    )
    waiting = []
    for i in range(10):
        grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic, email=f"p{i}@ex.com"))
        AppointmentFactory(
            patient=grant.patient,
            provider=provider,
            appointment_type=visit_type,
            start=local(monday, 10, 15 * (i % 4)) + dt.timedelta(days=1 + i // 4),
            earlier_offers_since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
        waiting.append(grant)
    committed(services.appointment_cancel, appointment=bea, cancelled_by=None, by_staff=True)
    found = list(SlotOffer.objects.select_related("accepted_by"))
    assert len(found) == 10
    barrier = threading.Barrier(10)
    outcomes, errors = [], []

    def accept(offer, user):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            offers.slot_offer_accept(offer=offer, accepted_by=user)
            outcomes.append("won")
        except offers.OfferUnusable as unusable:
            outcomes.append(unusable.state)
        except Exception as exc:  # noqa: BLE001 - any other error is the failure we look for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    users = {g.patient_id: g.user for g in waiting}
    threads = [threading.Thread(target=accept, args=(o, users[o.patient_id])) for o in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert outcomes.count("won") == 1
    assert outcomes.count(SlotOffer.State.TAKEN) == 9
    active = Appointment.objects.filter(provider=provider, start=freed_start).active()
    assert active.count() == 1
    replaced = Appointment.objects.filter(
        earlier_offers_since__isnull=False, status=Appointment.Status.CANCELLED
    )
    assert replaced.count() == 1
    assert replaced.get().patient_id == active.get().patient_id
