"""The clinic admin's index is the front desk's work screen (``clinics.workboard``)."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from appointments.models import Appointment, AppointmentRequest
from clinics import workboard
from clinics.models import User
from messaging.models import Pool, Side, Thread
from patients.models import ChangeRequest, Patient, SignInLock, VerificationRequest
from portal.notifications.models import Notification
from records.models import Medication, RefillRequest
from tests.clients import staff_client
from tests.clock import NOW
from tests.factories import (
    AppointmentTypeFactory,
    PatientFactory,
    ProviderFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db


def waiting_items(clinic, n, *, at=NOW):
    """``n`` items waiting in every queue of ``clinic``, the oldest an hour before ``at``."""
    hour_ago = at - datetime.timedelta(hours=1)
    patients = Patient.objects.bulk_create(
        PatientFactory.build(clinic=clinic, primary_provider=None) for _ in range(n)
    )
    users = User.objects.bulk_create(
        User(clinic=clinic, username=f"{clinic.slug}-person-{i}") for i in range(n)
    )
    ChangeRequest.objects.bulk_create(
        ChangeRequest(clinic=clinic, patient=p, created_at=hour_ago) for p in patients
    )
    VerificationRequest.objects.bulk_create(
        VerificationRequest(
            clinic=clinic,
            patient=p,
            user=u,
            channel="email",
            destination="x@example.com",
            created_at=hour_ago,
        )
        for p, u in zip(patients, users, strict=True)
    )
    Thread.objects.bulk_create(
        Thread(
            clinic=clinic,
            patient=p,
            subject="Hello",
            last_sender_side=Side.PATIENT,
            last_message_at=hour_ago,
        )
        for p in patients
    )
    provider = ProviderFactory(clinic=clinic)
    kind = AppointmentTypeFactory(clinic=clinic, duration_minutes=5)
    Appointment.objects.bulk_create(
        Appointment(
            clinic=clinic,
            patient=p,
            provider=provider,
            appointment_type=kind,
            start=at + datetime.timedelta(minutes=i),
            end=at + datetime.timedelta(minutes=i + 1),
        )
        for i, p in enumerate(patients)
    )
    AppointmentRequest.objects.bulk_create(
        AppointmentRequest(
            clinic=clinic,
            patient=p,
            appointment_type=kind,
            created_at=hour_ago,
        )
        for p in patients
    )
    Notification.objects.bulk_create(
        Notification(
            clinic=clinic,
            channel="sms",
            recipient="+16135550123",
            template="staff_test",
            status=Notification.Status.FAILED,
            created_at=hour_ago,
        )
        for _ in range(n)
    )
    medications = Medication.objects.bulk_create(
        Medication(
            clinic=clinic, patient=p, kind="request", display="Drug", status="active", date=at
        )
        for p in patients
    )
    RefillRequest.objects.bulk_create(
        RefillRequest(
            clinic=clinic, patient=m.patient, medication=m, pharmacy_note="x", created_at=hour_ago
        )
        for m in medications
    )
    SignInLock.objects.bulk_create(
        SignInLock(clinic=clinic, subject=f"{clinic.slug}-{i}", hard_locked=True) for i in range(n)
    )
    AccessAttempt.objects.bulk_create(
        AccessAttempt(
            username=f"clinic:{clinic.pk}:user:{u.pk}",
            failures_since_start=10,
            attempt_time=at - datetime.timedelta(minutes=5),
            ip_address="192.0.2.1",
            user_agent="",
            http_accept="",
            path_info="/admin/login/",
            get_data="",
            post_data="",
        )
        for u in users
    )


def counts(response):
    return {row.key: row.count for row in response.context["workboard"]}


def test_the_index_counts_each_queue_and_links_to_its_filtered_list(clinic, clinic_admin, frozen):
    waiting_items(clinic, 3)
    response = staff_client(clinic_admin).get("/admin/")
    assert counts(response) == {
        "patients.change_requests": 3,
        "patients.identity_confirmations": 3,
        "messaging.awaiting_reply": 3,
        "appointments.requests": 3,
        "appointments.today": 3,
        "records.refill_requests": 3,
        "notifications.failed": 3,
        "patients.locked_sign_ins": 3,
        "staff.locked_accounts": 3,
    }
    page = response.content.decode()
    assert "Patient Requests pending" in page
    assert 'href="/admin/patients/changerequest/?status__exact=pending"' in page
    assert 'href="/admin/messaging/thread/?awaiting=yes"' in page
    assert ">1\xa0hour<" in page
    # the usual model list follows
    assert page.index("Waiting for you") < page.index('href="/admin/patients/patient/"')


def test_each_link_opens_a_list_of_exactly_the_waiting_items(clinic, clinic_admin, frozen):
    waiting_items(clinic, 2)
    client = staff_client(clinic_admin)
    for row in client.get("/admin/").context["workboard"]:
        if row.key == "staff.locked_accounts":
            continue  # the staff list shows every account, locks in a column
        listed = client.get(row.url)
        assert listed.status_code == 200, row.url
        assert listed.context["cl"].result_count == 2, row.key


def test_another_clinics_items_are_not_counted(clinic, other_clinic, clinic_admin, frozen):
    waiting_items(other_clinic, 2)
    response = staff_client(clinic_admin).get("/admin/")
    assert set(counts(response).values()) == {0}


def test_the_front_desk_sees_only_the_queues_it_may_view(clinic, front_desk, frozen):
    response = staff_client(front_desk).get("/admin/")
    assert "staff.locked_accounts" not in counts(response)
    assert "patients.change_requests" in counts(response)


def test_cool_offs_and_answered_threads_do_not_count(clinic, clinic_admin, frozen):
    patient = PatientFactory(clinic=clinic)
    SignInLock.objects.create(
        clinic=clinic, subject="cooling", locked_until=NOW + datetime.timedelta(minutes=5)
    )
    Thread.objects.create(clinic=clinic, patient=patient, subject="Hi", last_sender_side=Side.STAFF)
    Thread.objects.create(
        clinic=clinic,
        patient=patient,
        subject="Hi",
        last_sender_side=Side.PATIENT,
        handled_at=NOW,
    )
    tomorrow = NOW + datetime.timedelta(days=1)
    provider, kind = ProviderFactory(clinic=clinic), AppointmentTypeFactory(clinic=clinic)
    Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        provider=provider,
        appointment_type=kind,
        start=tomorrow,
        end=tomorrow + datetime.timedelta(minutes=15),
    )
    assert set(counts(staff_client(clinic_admin).get("/admin/")).values()) == {0}


@pytest.mark.parametrize("n", [1, 500])
def test_the_query_count_does_not_grow_with_the_queues(
    n, clinic, clinic_admin, frozen, django_assert_num_queries, settings
):
    """One query per queue (two for messages: the pools' rows), the same with 1 and with
    500 items in each (one more where the session is read from the database rather than
    the cache)."""
    waiting_items(clinic, n)
    client = staff_client(clinic_admin)
    client.get("/admin/")  # warm the clinic and session caches
    session_read = settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    with django_assert_num_queries(13 + session_read):
        response = client.get("/admin/")
    assert counts(response)["patients.change_requests"] == n


def test_an_app_adds_a_queue_with_several_rows(clinic, clinic_admin, frozen):
    def pools(*, clinic, now):
        return [
            workboard.Row("pools.a", "Pool A", 2, None, "/admin/?pool=a"),
            workboard.Row("pools.b", "Pool B", 0, None, "/admin/?pool=b"),
        ]

    workboard.register(
        "pools",
        order=35,
        label="Pools",
        loader=pools,
        url="admin:index",
        permission="messaging.view_thread",
    )
    try:
        response = staff_client(clinic_admin).get("/admin/")
    finally:
        workboard.unregister("pools")
    keys = [row.key for row in response.context["workboard"]]
    assert keys.index("messaging.awaiting_reply") < keys.index("pools.a") < keys.index("pools.b")
    assert keys.index("pools.b") < keys.index("appointments.today")
    assert "Pool A" in response.content.decode()


def test_a_queue_needs_its_permission(clinic, frozen):
    nobody = StaffFactory(clinic=clinic, username="noroles")
    nobody.groups.clear()
    assert workboard.rows_for(user=nobody, clinic=clinic, now=timezone.now()) == []


def test_messages_awaiting_a_reply_are_counted_per_pool(clinic, clinic_admin, frozen):
    nurses = Pool.objects.create(clinic=clinic, name="Nurses")
    billing = Pool.objects.create(clinic=clinic, name="Billing")
    Pool.objects.create(clinic=clinic, name="Quiet")
    patient = PatientFactory(clinic=clinic)
    for pool, n in ((nurses, 2), (billing, 1), (None, 1)):
        for _ in range(n):
            Thread.objects.create(
                clinic=clinic,
                patient=patient,
                subject="Hi",
                pool=pool,
                last_sender_side=Side.PATIENT,
                last_message_at=NOW - datetime.timedelta(hours=2),
            )
    client = staff_client(clinic_admin)
    rows = {
        row.label: row
        for row in client.get("/admin/").context["workboard"]
        if row.key.startswith("messaging.")
    }
    assert {label: row.count for label, row in rows.items()} == {
        "Messages awaiting a reply: Billing": 1,
        "Messages awaiting a reply: Nurses": 2,
        "Messages awaiting a reply: no pool": 1,
    }
    nurses_row = rows["Messages awaiting a reply: Nurses"]
    assert nurses_row.url == f"/admin/messaging/thread/?awaiting=yes&pool={nurses.pk}"
    assert client.get(nurses_row.url).context["cl"].result_count == 2
    assert (
        client.get(rows["Messages awaiting a reply: no pool"].url).context["cl"].result_count == 1
    )
