import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection, connections

from appointments import services
from appointments.models import Appointment
from patients.models import Patient
from portal.audit.models import AuditEvent
from tests.appointments.schedule import NOW, local
from tests.factories import PatientFactory, portal_settings_of

pytestmark = pytest.mark.django_db

TUESDAY = NOW.date() + dt.timedelta(days=1)


def _book(grant, provider, visit_type, start, **kwargs):
    return services.appointment_book(
        patient=grant.patient,
        provider=provider,
        appointment_type=visit_type,
        start=start,
        reason="sore throat",
        booked_by=grant.user,
        **kwargs,
    )


def test_it_books_a_free_slot_and_confirms_without_health_details(
    grant, provider, visit_type, booking_rules, frozen, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = _book(grant, provider, visit_type, local(TUESDAY, 9, 15))
    assert appointment.end == local(TUESDAY, 9, 30)
    assert appointment.status == Appointment.Status.BOOKED
    assert appointment.booked_by == grant.user
    [email] = mail.outbox
    assert email.to == ["ada@example.com"]
    assert "9:15 AM" in email.body
    assert "Dr Osei" in email.body
    calendar = email.message().as_string()
    for part in (email.subject, email.body, email.alternatives[0][0], calendar):
        assert "sore throat" not in part
    assert AuditEvent.objects.filter(action="appointment.booked", acting_for=grant.patient).exists()


def test_the_second_booking_of_a_time_is_told_it_was_taken(
    grant, provider, visit_type, booking_rules, frozen
):
    _book(grant, provider, visit_type, local(TUESDAY, 9))
    other = PatientFactory(clinic=grant.clinic)
    with pytest.raises(services.SlotTaken):
        services.appointment_book(
            patient=other,
            provider=provider,
            appointment_type=visit_type,
            start=local(TUESDAY, 9),
            booked_by=None,
        )
    assert Appointment.objects.count() == 1


def test_it_refuses_a_time_outside_the_offered_slots(
    grant, provider, visit_type, booking_rules, frozen
):
    with pytest.raises(services.NotAllowed, match="not_offered"):
        _book(grant, provider, visit_type, local(TUESDAY, 13))
    with pytest.raises(services.NotAllowed, match="not_offered"):
        _book(grant, provider, visit_type, local(TUESDAY, 9, 5))


def test_booking_is_refused_when_the_clinic_disallows_it(
    grant, provider, visit_type, booking_rules, frozen
):
    booking_rules.booking_allowed = False
    booking_rules.save()
    with pytest.raises(services.NotAllowed, match="booking_disabled"):
        _book(grant, provider, visit_type, local(TUESDAY, 9))


def test_pending_patients_book_only_when_the_clinic_allows(
    grant, provider, visit_type, booking_rules, frozen
):
    Patient.objects.filter(pk=grant.patient_id).update(status=Patient.Status.PENDING)
    grant.patient.refresh_from_db()
    with pytest.raises(services.NotAllowed, match="pending"):
        _book(grant, provider, visit_type, local(TUESDAY, 9))
    booking_rules.pending_patients_may_book = True
    booking_rules.save()
    grant.patient.clinic.portal_settings.refresh_from_db()
    assert _book(grant, provider, visit_type, local(TUESDAY, 9)).pk


def test_staff_book_outside_hours_or_over_a_visit_only_by_naming_the_rule(
    grant, provider, visit_type, front_desk, frozen
):
    def staff_book(start, **kwargs):
        return services.appointment_book(
            patient=kwargs.pop("patient", grant.patient),
            provider=provider,
            appointment_type=visit_type,
            start=start,
            booked_by=front_desk,
            by_staff=True,
            **kwargs,
        )

    with pytest.raises(services.NotAllowed, match="not_offered"):
        staff_book(local(TUESDAY, 18))
    evening = staff_book(local(TUESDAY, 18), override={services.NOT_OFFERED})
    assert not evening.conflict_override
    other = PatientFactory(clinic=grant.clinic)
    with pytest.raises(services.SlotTaken):
        staff_book(local(TUESDAY, 18), patient=other, override={services.NOT_OFFERED})
    double = staff_book(
        local(TUESDAY, 18), patient=other, override={services.NOT_OFFERED, services.SLOT_TAKEN}
    )
    assert double.conflict_override
    audited = AuditEvent.objects.filter(action="appointment.booked_over_rule")
    assert [(e.object_id, e.details) for e in audited.order_by("pk")] == [
        (str(evening.pk), {"rules": ["not_offered"]}),
        (str(double.pk), {"rules": ["not_offered", "slot_taken"]}),
    ]
    # Nobody but staff books over a rule.
    with pytest.raises(ValueError):
        _book(grant, provider, visit_type, local(TUESDAY, 9), override={services.NOT_OFFERED})


def test_cancelling_follows_the_clinics_rules(grant, provider, visit_type, booking_rules, frozen):
    appointment = _book(grant, provider, visit_type, local(TUESDAY, 11))
    booking_rules.cancelling_allowed = False
    booking_rules.save()
    appointment.clinic.portal_settings.refresh_from_db()
    with pytest.raises(services.NotAllowed, match="cancelling_disabled"):
        services.appointment_cancel(appointment=appointment, cancelled_by=grant.user)
    booking_rules.cancelling_allowed = True
    booking_rules.save()
    appointment.clinic.portal_settings.refresh_from_db()
    frozen.move_to(local(TUESDAY, 11) - dt.timedelta(hours=23))
    with pytest.raises(services.NotAllowed, match="past_cutoff"):
        services.appointment_cancel(appointment=appointment, cancelled_by=grant.user)
    # Staff may still cancel after the cutoff.
    assert services.appointment_cancel(appointment=appointment, cancelled_by=None, by_staff=True)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED


def test_a_cancelled_time_can_be_booked_again(grant, provider, visit_type, booking_rules, frozen):
    first = _book(grant, provider, visit_type, local(TUESDAY, 10))
    assert services.appointment_cancel(appointment=first, cancelled_by=grant.user)
    assert not services.appointment_cancel(appointment=first, cancelled_by=grant.user)
    second = _book(grant, provider, visit_type, local(TUESDAY, 10))
    assert second.pk != first.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_fifty_people_booking_the_same_slot_get_one_appointment(clinic, provider, visit_type):
    """On PostgreSQL the exclusion constraint decides; the losers are told, not crashed."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's exclusion constraint; this run uses " + connection.vendor)
    portal_settings_of(clinic, booking_allowed=True)
    patients = [PatientFactory(clinic=clinic) for _ in range(50)]
    start = local(dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday()), 9)
    barrier = threading.Barrier(50)
    outcomes, errors = [], []

    def book(patient):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            services.appointment_book(
                patient=patient,
                provider=provider,
                appointment_type=visit_type,
                start=start,
                booked_by=None,
                by_staff=True,
            )
            outcomes.append("booked")
        except services.SlotTaken:
            outcomes.append("taken")
        except Exception as exc:  # noqa: BLE001 - any other error is the failure we look for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=book, args=(p,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert outcomes.count("booked") == 1
    assert outcomes.count("taken") == 49
    assert Appointment.objects.filter(provider=provider, start=start).count() == 1
