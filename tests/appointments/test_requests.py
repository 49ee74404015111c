"""Appointment requests: a clinic that has patients request instead of book; the front
desk's queue books a real time or declines; the patient sees, and may withdraw."""

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection, connections

from appointments import services
from appointments.models import Appointment, AppointmentRequest
from appointments.selectors import appointment_requests_pending
from portal.audit.models import AuditEvent
from tests.appointments.schedule import NOW, local
from tests.clients import portal_client, staff_client
from tests.factories import (
    AppointmentRequestFactory,
    PatientAccessFactory,
    PatientFactory,
    StaffFactory,
    UserFactory,
    portal_settings_of,
)

pytestmark = pytest.mark.django_db

TUESDAY = NOW.date() + dt.timedelta(days=1)
REQUEST = "/portal/appointments/request/"
LIST = "/portal/appointments/"
QUEUE = "/admin/appointments/appointmentrequest/"


@pytest.fixture
def requests_on(clinic):
    """The clinic has patients request appointments; they may not book directly."""
    return portal_settings_of(clinic, appointment_requests=True, booking_allowed=True)


def _form(visit_type, provider=None, **extra):
    return {
        "appointment_type": visit_type.pk,
        "provider": provider.pk if provider else "",
        "days": ["tue", "wed"],
        "times": ["morning"],
        "note": "Not before 10, please",
        **extra,
    }


def _create(grant, visit_type, **kwargs):
    values = {
        "patient": grant.patient,
        "requested_by": grant.user,
        "appointment_type": visit_type,
        "days": ["tue"],
        "times": ["morning"],
        **kwargs,
    }
    return services.appointment_request_create(**values)


# --- The patient's side --------------------------------------------------------------------


def test_a_patient_requests_a_visit_and_sees_it_waiting(
    grant, provider, visit_type, requests_on, frozen
):
    client = portal_client(grant.user, grant.patient)
    page = client.get(LIST).content.decode()
    assert "Request an appointment" in page and "Book an appointment" not in page
    assert client.get(REQUEST).status_code == 200
    response = client.post(REQUEST, _form(visit_type, provider))
    assert response.status_code == 302 and response["Location"] == LIST
    [made] = AppointmentRequest.objects.all()
    assert (made.patient, made.requested_by, made.provider) == (grant.patient, grant.user, provider)
    assert made.preferred_days == ["tue", "wed"] and made.preferred_times == ["morning"]
    page = client.get(LIST).content.decode()
    assert "Your requests" in page and "Waiting for the clinic" in page
    assert "Tuesday, Wednesday; Morning (before noon)" in page
    assert AuditEvent.objects.filter(action="appointment_request.created").count() == 1


def test_booking_sends_a_requesting_clinics_patient_to_the_request_form(
    grant, visit_type, requests_on
):
    response = portal_client(grant.user, grant.patient).get("/portal/appointments/book/")
    assert response.status_code == 302 and response["Location"] == REQUEST


def test_a_forged_booking_is_refused_when_the_clinic_takes_requests(
    grant, provider, visit_type, requests_on, frozen
):
    with pytest.raises(services.NotAllowed, match="requests_only"):
        services.appointment_book(
            patient=grant.patient,
            provider=provider,
            appointment_type=visit_type,
            start=local(TUESDAY, 9),
            booked_by=grant.user,
        )


def test_requests_are_refused_when_the_clinic_does_not_take_them(grant, visit_type, clinic):
    portal_settings_of(clinic, appointment_requests=False, booking_allowed=False)
    client = portal_client(grant.user, grant.patient)
    response = client.post(REQUEST, _form(visit_type))
    assert "does not take appointment requests" in response.content.decode()
    with pytest.raises(services.NotAllowed, match="requests_disabled"):
        _create(grant, visit_type)
    assert not AppointmentRequest.objects.exists()


def test_pending_patients_request_only_when_the_clinic_lets_them_book(
    grant, visit_type, requests_on, clinic
):
    grant.patient.status = "pending"
    grant.patient.save()
    with pytest.raises(services.NotAllowed, match="pending"):
        _create(grant, visit_type)
    portal_settings_of(clinic, pending_patients_may_book=True)
    grant.patient.clinic.refresh_from_db()
    assert _create(grant, visit_type).pk


@pytest.mark.parametrize(
    "fields, rule",
    [
        ({"days": ["someday"]}, "bad_preferences"),
        ({"times": ["midnight"]}, "bad_preferences"),
        ({"note": "x" * 201}, "note_too_long"),
    ],
)
def test_the_service_refuses_what_the_form_would_not_offer(
    grant, visit_type, requests_on, fields, rule
):
    with pytest.raises(services.NotAllowed, match=rule):
        _create(grant, visit_type, **fields)


def test_a_type_or_provider_patients_cannot_choose_online_is_refused(
    grant, provider, visit_type, requests_on, other_clinic
):
    visit_type.bookable_online = False
    visit_type.save()
    with pytest.raises(services.NotAllowed, match="not_online"):
        _create(grant, visit_type)
    visit_type.bookable_online = True
    visit_type.save()
    provider.bookable_online = False
    provider.save()
    with pytest.raises(services.NotAllowed, match="provider_inactive"):
        _create(grant, visit_type, provider=provider)


def test_a_forged_post_with_another_clinics_type_is_not_accepted(
    grant, visit_type, requests_on, other_clinic
):
    from tests.factories import AppointmentTypeFactory

    foreign = AppointmentTypeFactory(clinic=other_clinic)
    client = portal_client(grant.user, grant.patient)
    response = client.post(REQUEST, _form(foreign))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    with pytest.raises(services.NotAllowed):
        _create(grant, foreign)
    assert not AppointmentRequest.objects.exists()


def test_a_chart_holds_at_most_the_limit_of_waiting_requests(
    grant, visit_type, requests_on, frozen
):
    for _ in range(services.MAX_OPEN_REQUESTS):
        _create(grant, visit_type)
    client = portal_client(grant.user, grant.patient)
    response = client.post(REQUEST, _form(visit_type), follow=True)
    assert "You already have 3 requests waiting for the clinic" in response.content.decode()
    assert AppointmentRequest.objects.count() == services.MAX_OPEN_REQUESTS
    # A withdrawn one frees its place.
    services.appointment_request_withdraw(
        appointment_request=AppointmentRequest.objects.first(), withdrawn_by=grant.user
    )
    assert _create(grant, visit_type).pk


def test_the_patient_withdraws_a_waiting_request_but_not_an_answered_one(
    grant, visit_type, requests_on, front_desk
):
    waiting = _create(grant, visit_type)
    client = portal_client(grant.user, grant.patient)
    assert client.get(f"/portal/appointments/requests/{waiting.pk}/withdraw/").status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == AppointmentRequest.Status.PENDING  # a GET changes nothing
    response = client.post(f"/portal/appointments/requests/{waiting.pk}/withdraw/")
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == AppointmentRequest.Status.WITHDRAWN
    assert AuditEvent.objects.filter(action="appointment_request.withdrawn").exists()
    response = client.post(f"/portal/appointments/requests/{waiting.pk}/withdraw/", follow=True)
    assert "already answered" in response.content.decode()


def test_a_representative_with_the_appointments_scope_requests_for_the_child(
    clinic, visit_type, requests_on
):
    child = PatientFactory(clinic=clinic, first_name="Kid")
    parent = PatientAccessFactory(
        patient=child, user=UserFactory(clinic=clinic), relationship="carer"
    )
    client = portal_client(parent.user, child)
    assert client.post(REQUEST, _form(visit_type)).status_code == 302
    [made] = AppointmentRequest.objects.all()
    assert made.patient == child and made.requested_by == parent.user


def test_a_representative_without_the_appointments_scope_cannot_request(
    clinic, visit_type, requests_on
):
    child = PatientFactory(clinic=clinic)
    parent = PatientAccessFactory(
        patient=child,
        user=UserFactory(clinic=clinic),
        relationship="carer",
        can_appointments=False,
    )
    client = portal_client(parent.user, child)
    assert client.post(REQUEST, _form(visit_type)).status_code == 403
    assert not AppointmentRequest.objects.exists()


def test_someone_elses_request_is_not_found(grant, clinic, visit_type, requests_on):
    theirs = AppointmentRequestFactory(
        patient=PatientFactory(clinic=clinic), appointment_type=visit_type
    )
    client = portal_client(grant.user, grant.patient)
    assert client.post(f"/portal/appointments/requests/{theirs.pk}/withdraw/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == AppointmentRequest.Status.PENDING


# --- The front desk's side -----------------------------------------------------------------


def test_the_queue_lists_waiting_requests_oldest_first_and_filters_by_status(
    grant, clinic, visit_type, front_desk, requests_on, frozen, other_clinic
):
    newer = AppointmentRequestFactory(patient=grant.patient, appointment_type=visit_type)
    older = AppointmentRequestFactory(
        patient=grant.patient,
        appointment_type=visit_type,
        created_at=NOW - dt.timedelta(days=2),
    )
    done = AppointmentRequestFactory(
        patient=grant.patient, appointment_type=visit_type, status="declined"
    )
    AppointmentRequestFactory(patient=PatientFactory(clinic=other_clinic))
    client = staff_client(front_desk)
    response = client.get(QUEUE)
    assert list(response.context["cl"].result_list) == [older, newer]
    response = client.get(QUEUE, {"status": "declined"})
    assert list(response.context["cl"].result_list) == [done]
    response = client.get(QUEUE, {"status": "all"})
    assert len(response.context["cl"].result_list) == 3


def test_the_pending_selector_gives_the_count_and_the_oldest_of_the_clinic(
    grant, clinic, visit_type, other_clinic, django_assert_num_queries
):
    assert appointment_requests_pending(clinic=clinic).count == 0
    newer = AppointmentRequestFactory(patient=grant.patient, appointment_type=visit_type)
    older = AppointmentRequestFactory(
        patient=grant.patient,
        appointment_type=visit_type,
        created_at=newer.created_at - dt.timedelta(hours=1),
    )
    AppointmentRequestFactory(
        patient=grant.patient, appointment_type=visit_type, status="withdrawn"
    )
    AppointmentRequestFactory(patient=PatientFactory(clinic=other_clinic))
    with django_assert_num_queries(2):
        pending = appointment_requests_pending(clinic=clinic)
        assert pending.oldest.patient.first_name == "Ada"
    assert (pending.count, pending.oldest) == (2, older)


def test_front_desk_confirms_a_free_time_and_the_patient_gets_the_confirmation(
    grant,
    provider,
    visit_type,
    front_desk,
    requests_on,
    frozen,
    django_capture_on_commit_callbacks,
):
    made = _create(grant, visit_type, note="Not before 10")
    client = staff_client(front_desk)
    page = client.get(f"{QUEUE}{made.pk}/change/")
    assert page.status_code == 200
    assert page.context["day"] == TUESDAY  # the first day that suits the patient
    free = page.context["free"]
    assert local(TUESDAY, 9) in free
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{QUEUE}{made.pk}/confirm/",
            {"provider": provider.pk, "start": local(TUESDAY, 10).isoformat()},
        )
    assert response.status_code == 302 and response["Location"] == QUEUE
    made.refresh_from_db()
    assert made.status == AppointmentRequest.Status.CONFIRMED and made.decided_by == front_desk
    visit = made.appointment
    assert (visit.start, visit.provider, visit.booked_by) == (
        local(TUESDAY, 10),
        provider,
        front_desk,
    )
    [email] = mail.outbox
    assert email.to == ["ada@example.com"] and "Dr Osei" in email.body
    assert "text/calendar" in email.message().as_string()
    assert "Not before 10" not in email.message().as_string()
    assert AuditEvent.objects.filter(action="appointment_request.confirmed").exists()
    page = portal_client(grant.user, grant.patient).get(LIST).content.decode()
    assert "Booked" in page and "Tuesday 24 November 2026" in page


def test_a_confirmed_time_follows_the_booking_rules_unless_staff_book_over_them(
    grant, provider, visit_type, front_desk, requests_on, frozen, visit_at
):
    visit_at(local(TUESDAY, 9), patient=PatientFactory(clinic=grant.clinic))
    made = _create(grant, visit_type)
    client = staff_client(front_desk)
    url = f"{QUEUE}{made.pk}/confirm/"
    response = client.post(
        url, {"provider": provider.pk, "start": local(TUESDAY, 9).isoformat()}, follow=True
    )
    assert "Nothing was booked" in response.content.decode()
    assert "Dr Osei already has an appointment at that time" in response.content.decode()
    made.refresh_from_db()
    assert made.status == AppointmentRequest.Status.PENDING
    response = client.post(
        url,
        {
            "provider": provider.pk,
            "start": local(TUESDAY, 9).isoformat(),
            "override": ["slot_taken"],
        },
    )
    made.refresh_from_db()
    assert made.status == AppointmentRequest.Status.CONFIRMED
    assert made.appointment.conflict_override
    assert AuditEvent.objects.filter(action="appointment.booked_over_rule").exists()


def test_front_desk_declines_with_a_reason_and_the_notice_says_nothing_of_it(
    grant, visit_type, front_desk, requests_on, django_capture_on_commit_callbacks
):
    made = _create(grant, visit_type)
    client = staff_client(front_desk)
    response = client.post(f"{QUEUE}{made.pk}/decline/", {"reason": ""}, follow=True)
    made.refresh_from_db()
    assert made.status == AppointmentRequest.Status.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{QUEUE}{made.pk}/decline/", {"reason": "Dr Osei is away that week, call us"}
        )
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.status == AppointmentRequest.Status.DECLINED
    [email] = mail.outbox
    assert "could not book the appointment you requested" in email.body
    assert "away" not in email.body and "Regular visit" not in email.body
    assert AuditEvent.objects.filter(action="appointment_request.declined").exists()
    page = portal_client(grant.user, grant.patient).get(LIST).content.decode()
    assert "Declined" in page and "Dr Osei is away that week, call us" in page
    # Answered once: a second answer is refused.
    response = client.post(f"{QUEUE}{made.pk}/decline/", {"reason": "again"}, follow=True)
    assert "already been answered" in response.content.decode()
    with pytest.raises(services.NotAllowed, match="request_answered"):
        services.appointment_request_confirm(
            appointment_request=made,
            provider=None,
            start=local(TUESDAY, 9),
            decided_by=front_desk,
        )


def test_the_decline_reason_is_required_and_short(grant, visit_type, front_desk, requests_on):
    made = _create(grant, visit_type)
    for reason, rule in (("  ", "reason_required"), ("x" * 301, "reason_too_long")):
        with pytest.raises(services.NotAllowed, match=rule):
            services.appointment_request_decline(
                appointment_request=made, reason=reason, decided_by=front_desk
            )


def test_staff_of_another_clinic_get_a_404(grant, visit_type, outsider_staff, requests_on):
    made = _create(grant, visit_type)
    client = staff_client(outsider_staff)
    for url in (
        f"{QUEUE}{made.pk}/change/",
        f"{QUEUE}{made.pk}/confirm/",
        f"{QUEUE}{made.pk}/decline/",
    ):
        assert client.post(url, {"reason": "no"}).status_code == 404
    made.refresh_from_db()
    assert made.status == AppointmentRequest.Status.PENDING


def test_staff_without_a_booking_role_cannot_answer(grant, clinic, visit_type, requests_on):
    made = _create(grant, visit_type)
    viewer = StaffFactory(clinic=clinic, username="viewer")
    viewer.groups.clear()
    client = staff_client(viewer)
    assert client.post(f"{QUEUE}{made.pk}/decline/", {"reason": "no"}).status_code == 403


# --- Races ---------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ten_requests_at_once_leave_the_limit_waiting(clinic, visit_type):
    """The chart's row is locked while counting: ten posts at once, three requests."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks; this run uses " + connection.vendor)
    portal_settings_of(clinic, appointment_requests=True)
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic))
    barrier = threading.Barrier(10)
    outcomes, errors = [], []

    def ask():
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            _create(grant, visit_type)
            outcomes.append("made")
        except services.NotAllowed as refusal:
            outcomes.append(refusal.rule)
        except Exception as exc:  # noqa: BLE001 - any other error is the failure we look for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert outcomes.count("made") == services.MAX_OPEN_REQUESTS
    assert outcomes.count("request_limit") == 10 - services.MAX_OPEN_REQUESTS
    assert AppointmentRequest.objects.pending().count() == services.MAX_OPEN_REQUESTS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_staff_answering_one_request_at_once_book_one_visit(clinic, visit_type):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks; this run uses " + connection.vendor)
    from tests.factories import ProviderFactory

    portal_settings_of(clinic, appointment_requests=True)
    provider = ProviderFactory(
        clinic=clinic, appointment_types=[visit_type], weekly_hours=(dt.time(9), dt.time(12))
    )
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic))
    made = _create(grant, visit_type)
    staff = [StaffFactory(clinic=clinic, username=f"desk{i}") for i in range(2)]
    monday = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday())
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def answer(i):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            services.appointment_request_confirm(
                appointment_request=made,
                provider=provider,
                start=local(monday, 9 + i),
                decided_by=staff[i],
            )
            outcomes.append("booked")
        except services.NotAllowed as refusal:
            outcomes.append(refusal.rule)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == ["booked", "request_answered"]
    assert Appointment.objects.filter(patient=grant.patient).count() == 1
