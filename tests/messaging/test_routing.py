"""Pools, routing and the clinic's automatic acknowledgement: a category goes to its pool,
the patient is told the pool's (or the clinic's) reply time in working days, in their
language, or the pool's out-of-office dates; staff see their pools first, filter by
pool and move a thread to another pool (audited); the patient sees "Read by the clinic"
and "Answered"."""

import datetime as dt

import pytest
from django.core import mail
from django.utils.formats import date_format

from messaging import selectors, services
from messaging.models import Message, Thread
from portal.audit.models import AuditEvent
from tests.clients import client_for, committed
from tests.factories import PatientFactory, PoolFactory, StaffFactory, portal_settings_of
from tests.messaging.threads import start_thread

pytestmark = pytest.mark.django_db

INBOX = "/admin/messaging/thread/"
SECRET = "my rash xk9"


def patient_starts(user, patient, *, category="general", subject="A question", body=SECRET):
    access = user.patient_access.get(patient=patient)
    return committed(
        services.thread_start,
        clinic=patient.clinic,
        patient=patient,
        subject=subject,
        category=category,
        body=body,
        author=user,
        access=access,
    )


def patient_replies(user, thread, body="One more thing."):
    access = user.patient_access.get(patient=thread.patient)
    return committed(services.message_post, thread=thread, body=body, author=user, access=access)


def acknowledgements(thread):
    return list(Message.objects.filter(thread=thread, automatic=True).order_by("id"))


@pytest.fixture
def nurses(clinic, fiona):
    return PoolFactory(
        clinic=clinic, name="Nurses", members=[fiona], categories=["prescription_refill"]
    )


@pytest.fixture
def billing(clinic):
    return PoolFactory(clinic=clinic, name="Billing", categories=["billing_question"])


# --- Routing -----------------------------------------------------------------------------


def test_a_patients_message_goes_to_the_pool_of_its_category(maria, chart, nurses, billing):
    refill = patient_starts(maria, chart, category="prescription_refill")
    bill = patient_starts(maria, chart, category="billing_question")
    other = patient_starts(maria, chart, category="referral")
    assert (refill.pool, bill.pool, other.pool) == (nurses, billing, None)
    started = AuditEvent.objects.filter(action="message.thread_started", object_id=str(refill.pk))
    assert started.get().details["pool"] == nurses.pk


def test_a_category_is_routed_to_one_pool_of_a_clinic_only(clinic, other_clinic, nurses):
    from django.db import IntegrityError, transaction

    PoolFactory(clinic=other_clinic, name="Nurses", categories=["prescription_refill"])
    with pytest.raises(IntegrityError), transaction.atomic():
        PoolFactory(clinic=clinic, name="Pharmacy", categories=["prescription_refill"])


def test_another_clinics_pool_never_receives_this_clinics_messages(
    maria, chart, other_clinic, frozen
):
    PoolFactory(clinic=other_clinic, name="Theirs", categories=["general"])
    assert patient_starts(maria, chart).pool is None


# --- The acknowledgement -----------------------------------------------------------------


def test_the_patient_is_told_the_clinics_reply_time_when_they_write(maria, chart, clinic, frozen):
    portal_settings_of(clinic, message_reply_working_days=2)
    thread = patient_starts(maria, chart)
    [ack] = acknowledgements(thread)
    assert ack.sender_side == "staff" and ack.author is None
    assert ack.author_name == "Demo Family Clinic"
    assert "You can expect an answer within 2 working days." in ack.body
    assert SECRET not in ack.body
    assert ack.read_by_patient_at is not None and ack.read_by_staff_at is not None
    thread.refresh_from_db()
    assert thread.awaiting_reply and not thread.answered


def test_a_pools_own_reply_time_wins_over_the_clinics(maria, chart, clinic, nurses, frozen):
    portal_settings_of(clinic, message_reply_working_days=2)
    nurses.reply_working_days = 1
    nurses.save()
    thread = patient_starts(maria, chart, category="prescription_refill")
    [ack] = acknowledgements(thread)
    assert ack.author_name == "Nurses"
    assert "You can expect an answer within 1 working day." in ack.body


def test_the_acknowledgement_is_in_the_patients_language(maria, chart, frozen):
    chart.preferred_language = "fr"
    chart.save()
    [ack] = acknowledgements(patient_starts(maria, chart))
    assert "Vous pouvez attendre une réponse d'ici 2 jours ouvrables." in ack.body


def test_a_reply_to_an_awaiting_thread_is_not_acknowledged_twice(maria, chart, fiona, frozen):
    thread = patient_starts(maria, chart)
    patient_replies(maria, thread)
    assert len(acknowledgements(thread)) == 1
    committed(services.message_post, thread=thread, body="We will call.", author=fiona)
    patient_replies(maria, thread, body="Thanks, and another question.")
    assert len(acknowledgements(thread)) == 2


def test_staff_writing_get_no_acknowledgement(fiona, chart, frozen):
    assert acknowledgements(start_thread(fiona, chart)) == []


def test_the_acknowledgement_sends_no_notice_and_notices_carry_no_text(
    maria, chart, clinic, sms_outbox, frozen
):
    clinic.notification_email = "desk@demo.example"
    clinic.save()
    patient_starts(maria, chart, subject=SECRET)
    # Only the clinic's notice that a patient wrote; nothing to the patient.
    assert [m.to for m in mail.outbox] == [["desk@demo.example"]]
    assert sms_outbox == []
    for email in mail.outbox:
        assert SECRET not in email.body and SECRET not in email.subject
        assert "working day" not in email.body


# --- Out of office (the frozen clock: Tuesday 15 January 2030, 09:00 in Toronto) --------


def away(pool, start, end, note=""):
    pool.away_from, pool.away_until, pool.away_note = start, end, note
    pool.full_clean()
    pool.save()


def test_a_pool_away_today_says_so_and_when_to_expect_an_answer(maria, chart, nurses, frozen):
    away(nurses, dt.date(2030, 1, 14), dt.date(2030, 1, 17), note="Back on Friday.")
    [ack] = acknowledgements(patient_starts(maria, chart, category="prescription_refill"))
    assert (
        f"Nurses are away from {date_format(dt.date(2030, 1, 14))} "
        f"to {date_format(dt.date(2030, 1, 17))}." in ack.body
    )
    # Two working days after Thursday: Friday, then Monday.
    assert (
        "You can expect an answer within 2 working days of their return, by "
        f"{date_format(dt.date(2030, 1, 21))}." in ack.body
    )
    assert "Back on Friday." in ack.body


@pytest.mark.parametrize(
    ("start", "end", "is_away"),
    [
        (dt.date(2030, 1, 15), dt.date(2030, 1, 15), True),  # away today only
        (dt.date(2030, 1, 16), dt.date(2030, 1, 20), False),  # from tomorrow
        (dt.date(2030, 1, 1), dt.date(2030, 1, 14), False),  # back since today
    ],
)
def test_the_out_of_office_notice_holds_from_its_first_to_its_last_day(
    maria, chart, nurses, frozen, start, end, is_away
):
    away(nurses, start, end)
    [ack] = acknowledgements(patient_starts(maria, chart, category="prescription_refill"))
    assert ("are away from" in ack.body) is is_away
    assert ("You can expect an answer within 2 working days." in ack.body) is not is_away


def test_the_days_are_the_clinics_days_not_utc(maria, chart, nurses, frozen):
    # 23:30 in Toronto on the 14th is already the 15th in UTC.
    frozen.move_to(dt.datetime(2030, 1, 15, 4, 30, tzinfo=dt.UTC))
    away(nurses, dt.date(2030, 1, 15), dt.date(2030, 1, 16))
    [ack] = acknowledgements(patient_starts(maria, chart, category="prescription_refill"))
    assert "are away from" not in ack.body


def test_an_out_of_office_period_needs_both_days_in_order(nurses):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        away(nurses, dt.date(2030, 1, 14), None)
    with pytest.raises(ValidationError):
        away(nurses, dt.date(2030, 1, 17), dt.date(2030, 1, 14))


# --- What the patient sees -----------------------------------------------------------------


def test_the_patient_sees_not_read_then_read_by_the_clinic_then_answered(maria, chart, fiona):
    thread = patient_starts(maria, chart, subject="Inhaler")
    patient = client_for(maria, committing=True)
    url = f"/portal/messages/{thread.pk}/"

    def markers(path):
        page = patient.get(path).content.decode()
        return [
            label
            for label in ("Not read yet", "Read by the clinic", "Answered")
            if f">{label}</span>" in page
        ]

    assert markers(url) == ["Not read yet"]
    assert markers("/portal/messages/") == ["Not read yet"]
    page = patient.get(url).content.decode()
    assert "Automatic reply" in page and "You can expect an answer within" in page
    client_for(fiona, committing=True).get(f"{INBOX}{thread.pk}/change/")
    assert markers(url) == ["Read by the clinic"]
    assert markers("/portal/messages/") == ["Read by the clinic"]
    client_for(fiona, committing=True).post(f"{INBOX}{thread.pk}/change/", {"body": "Yes."})
    assert markers(url) == ["Answered"]
    assert markers("/portal/messages/") == ["Answered"]


def test_a_thread_the_clinic_started_is_not_marked_answered_in_the_inbox(maria, chart, fiona):
    start_thread(fiona, chart, subject="Flu shot")
    page = client_for(maria, committing=True).get("/portal/messages/").content.decode()
    assert "Flu shot" in page and ">Answered<" not in page


# --- The admin inbox -----------------------------------------------------------------------


@pytest.fixture
def routed(maria, chart, nurses, billing, fiona):
    """A thread for each pool and one in none (billing's is the newest)."""
    nurse_thread = patient_starts(maria, chart, category="prescription_refill", subject="Refill")
    loose = patient_starts(maria, chart, category="referral", subject="Referral")
    bill = patient_starts(maria, chart, category="billing_question", subject="Invoice")
    return {"nurses": nurse_thread, "none": loose, "billing": bill}


def listed(response):
    return [t.subject for t in response.context["cl"].result_list]


def test_staff_see_their_pools_threads_first(routed, fiona, clinic_admin):
    assert listed(client_for(fiona, committing=True).get(INBOX)) == [
        "Refill",
        "Invoice",
        "Referral",
    ]
    # Someone in no pool: newest first.
    assert listed(client_for(clinic_admin, committing=True).get(INBOX)) == [
        "Invoice",
        "Referral",
        "Refill",
    ]


def test_staff_filter_the_inbox_by_pool(routed, fiona, nurses, billing):
    client = client_for(fiona, committing=True)
    assert listed(client.get(INBOX, {"pool": "mine"})) == ["Refill"]
    assert listed(client.get(INBOX, {"pool": str(billing.pk)})) == ["Invoice"]
    assert listed(client.get(INBOX, {"pool": "none"})) == ["Referral"]
    page = client.get(INBOX).content.decode()
    assert "My pools" in page and "Billing" in page and "Nurses" in page


def test_the_pool_filter_offers_no_other_clinics_pool(routed, fiona, other_clinic):
    theirs = PoolFactory(clinic=other_clinic, name="Northside nurses")
    client = client_for(fiona, committing=True)
    assert "Northside nurses" not in client.get(INBOX).content.decode()
    assert listed(client.get(INBOX, {"pool": str(theirs.pk)})) == []


def test_moving_a_thread_to_another_pool_is_audited(routed, fiona, chart, billing, nurses):
    thread = routed["nurses"]
    client = client_for(fiona, committing=True)
    response = client.post(f"{INBOX}{thread.pk}/pool/", {"pool": billing.pk})
    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.pool == billing
    [moved] = AuditEvent.objects.filter(action="message.thread_reassigned")
    assert moved.actor == fiona and moved.acting_for == chart
    assert moved.object_id == str(thread.pk)
    assert moved.details == {"from_pool": nurses.pk, "to_pool": billing.pk}
    client.post(f"{INBOX}{thread.pk}/pool/", {"pool": billing.pk})
    assert AuditEvent.objects.filter(action="message.thread_reassigned").count() == 1
    client.post(f"{INBOX}{thread.pk}/pool/", {"pool": ""})
    thread.refresh_from_db()
    assert thread.pool is None


def test_a_thread_cannot_be_moved_to_another_clinics_pool(routed, fiona, outsider_staff):
    theirs = PoolFactory(clinic=outsider_staff.clinic, name="Theirs")
    thread = routed["nurses"]
    client_for(fiona, committing=True).post(f"{INBOX}{thread.pk}/pool/", {"pool": theirs.pk})
    thread.refresh_from_db()
    assert thread.pool.name == "Nurses"
    with pytest.raises(services.MessagingRefused):
        services.thread_assign_pool(thread=thread, pool=theirs, assigned_by=routed_staff(thread))
    with pytest.raises(services.MessagingRefused):
        services.thread_assign_pool(thread=thread, pool=None, assigned_by=outsider_staff)
    assert not AuditEvent.objects.filter(action="message.thread_reassigned").exists()


def routed_staff(thread):
    return StaffFactory(clinic=thread.clinic, username="another-desk")


def test_only_staff_who_may_change_threads_move_them(routed, clinic, billing):
    reader = StaffFactory(clinic=clinic, username="reader")
    reader.groups.clear()
    thread = routed["nurses"]
    response = client_for(reader, committing=True).post(
        f"{INBOX}{thread.pk}/pool/", {"pool": billing.pk}
    )
    assert response.status_code == 403


def test_the_conversation_page_shows_the_pool_and_the_automatic_reply(routed, fiona):
    page = client_for(fiona, committing=True).get(f"{INBOX}{routed['nurses'].pk}/change/")
    text = page.content.decode()
    assert "Move to pool" in text and "(automatic reply)" in text


# --- Pools in the admin --------------------------------------------------------------------


def test_clinic_admins_define_pools_with_their_own_staff_only(
    clinic_admin, fiona, outsider_staff, chart
):
    client = client_for(clinic_admin, committing=True)
    page = client.get("/admin/messaging/pool/add/")
    assert page.status_code == 200
    members = page.context["adminform"].form.fields["members"].queryset
    assert fiona in members and outsider_staff not in members
    assert not members.filter(is_staff=False).exists()


def test_front_desk_see_pools_but_do_not_define_them(fiona, nurses):
    client = client_for(fiona, committing=True)
    assert client.get("/admin/messaging/pool/").status_code == 200
    assert client.get("/admin/messaging/pool/add/").status_code == 403


def test_another_clinics_pool_is_a_404(nurses, outsider_staff):
    client = client_for(outsider_staff, committing=True)
    assert client.get(f"/admin/messaging/pool/{nurses.pk}/change/").status_code == 404


# --- For the front desk's work screen ------------------------------------------------------


def test_threads_awaiting_reply_are_counted_per_pool(
    routed, clinic, fiona, nurses, billing, other_clinic, frozen
):
    patient_starts(
        routed["nurses"].started_by, routed["nurses"].patient, category="billing_question"
    )
    committed(services.message_post, thread=routed["none"], body="Done.", author=fiona)
    theirs = PatientFactory(clinic=other_clinic)
    start_thread(StaffFactory(clinic=other_clinic, username="north"), theirs, subject="Not counted")
    rows = selectors.threads_awaiting_reply_by_pool(clinic=clinic)
    assert [(row["pool"], row["count"]) for row in rows] == [(billing, 2), (nurses, 1)]
    oldest_billing = Thread.objects.filter(pool=billing).order_by("last_message_at").first()
    assert rows[0]["oldest"] == oldest_billing.last_message_at
