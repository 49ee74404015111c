"""Refill requests: the patient asks for a refill of an active prescription with a note
for the pharmacy; the front desk approves or declines it in the admin; the answer comes
back as a message from the clinic and a notice that says only that the clinic answered.
One request waits per medication."""

import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from messaging.models import Message, Thread
from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from records import services
from records.models import RefillRequest
from tests.clients import portal_client, staff_client
from tests.factories import (
    MedicationFactory,
    PatientAccessFactory,
    PatientFactory,
    RefillRequestFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

MEDICATIONS = "/portal/health-record/medications/"
QUEUE = "/admin/records/refillrequest/"


def refill_url(medication) -> str:
    return f"{MEDICATIONS}{medication.pk}/refill/"


@pytest.fixture
def own(clinic):
    """Mara's account with a self grant to her chart (her email on file)."""
    return PatientAccessFactory(
        patient=PatientFactory(
            clinic=clinic, first_name="Mara", last_name="Okafor", email="mara@example.org"
        ),
        user__username="mara",
    )


@pytest.fixture
def statin(own):
    return MedicationFactory(
        patient=own.patient, display="Atorvastatin 20 mg tablet", status="active"
    )


@pytest.fixture
def client(own):
    return portal_client(own.user, own.patient)


def _ask(own, medication, note="Main Street Pharmacy"):
    return services.refill_request_create(
        patient=own.patient, medication_id=medication.pk, pharmacy_note=note, requested_by=own.user
    )


def _refused(call) -> str:
    with pytest.raises(services.RefillRefused) as refused:
        call()
    return refused.value.rule


# --- The service's rules ------------------------------------------------------------------


def test_a_patient_asks_a_refill_of_an_active_prescription(own, statin):
    made = _ask(own, statin, note="  Main Street Pharmacy, Friday  ")
    assert made.status == RefillRequest.Status.PENDING
    assert (made.patient, made.medication, made.requested_by) == (own.patient, statin, own.user)
    assert made.pharmacy_note == "Main Street Pharmacy, Friday"
    event = AuditEvent.objects.get(action="refill_request.created")
    assert event.acting_for_id == own.patient.pk
    assert "Atorvastatin" not in str(event.details) and "Main Street" not in str(event.details)
    assert made.history.count() == 1


def test_one_request_waits_per_medication(own, statin):
    _ask(own, statin)
    assert _refused(lambda: _ask(own, statin)) == "already_requested"
    other = MedicationFactory(patient=own.patient, status="active")
    _ask(own, other)  # another medication is its own request
    assert RefillRequest.objects.pending().count() == 2


def test_once_answered_the_medication_may_be_asked_again(own, statin, front_desk):
    first = _ask(own, statin)
    services.refill_request_approve(refill_request=first, decided_by=front_desk)
    second = _ask(own, statin)
    assert second.pk != first.pk and second.is_pending


@pytest.mark.parametrize("status", ["stopped", "completed", "on-hold", "entered-in-error"])
def test_a_medication_no_longer_active_is_refused(own, status):
    medication = MedicationFactory(patient=own.patient, status=status)
    assert _refused(lambda: _ask(own, medication)) == "not_refillable"
    assert not RefillRequest.objects.exists()


def test_a_medication_the_patient_takes_but_no_prescription_is_refused(own):
    vitamin = MedicationFactory(patient=own.patient, kind="statement", status="active")
    assert _refused(lambda: _ask(own, vitamin)) == "not_refillable"


def test_a_medication_of_another_chart_or_clinic_is_refused(own, clinic, other_clinic):
    neighbour = MedicationFactory(patient=PatientFactory(clinic=clinic), status="active")
    outsider = MedicationFactory(patient=PatientFactory(clinic=other_clinic), status="active")
    for medication in (neighbour, outsider):
        assert _refused(lambda m=medication: _ask(own, m)) == "not_refillable"
    assert not RefillRequest.objects.exists()


@pytest.mark.parametrize(
    ("note", "rule"),
    [("", "note_required"), ("   ", "note_required"), ("x" * 201, "note_too_long")],
)
def test_the_note_is_required_and_bounded(own, statin, note, rule):
    assert _refused(lambda: _ask(own, statin, note=note)) == rule


@pytest.mark.parametrize(
    "hidden",
    [
        "\x00\x1b[2J",  # C0 controls
        "\u0085",  # a C1 control
        "\u202eAMSIRHC\u202c",  # a bidi override: staff would read the text turned around
        "\u200b",  # a zero-width space
        "\u2028",  # a line separator
        "\u034f",  # a combining grapheme joiner: a mark that shows as nothing
        "\u3164",  # a Hangul filler: a letter that shows as nothing
        "\ufe0f",  # a variation selector
    ],
)
def test_the_note_is_plain_text(own, statin, hidden):
    assert _refused(lambda: _ask(own, statin, note=f"Pharmacy {hidden} please")) == "not_plain_text"


def test_a_note_may_run_over_lines(own, statin):
    assert _ask(own, statin, note="Main Street\nPharmacy").pharmacy_note == "Main Street\nPharmacy"


def test_the_database_refuses_a_second_open_request_for_one_medication(own, statin):
    RefillRequestFactory(medication=statin)
    with pytest.raises(IntegrityError), transaction.atomic():
        RefillRequestFactory(medication=statin)
    RefillRequestFactory(medication=statin, status=RefillRequest.Status.DECLINED)


def test_a_second_decision_is_refused(own, statin, front_desk, clinic_admin):
    made = _ask(own, statin)
    services.refill_request_approve(refill_request=made, decided_by=front_desk, answer="Sent")
    for decide in (services.refill_request_approve, services.refill_request_decline):
        rule = _refused(
            lambda d=decide: d(refill_request=made, decided_by=clinic_admin, answer="No")
        )
        assert rule == "request_answered"
    made.refresh_from_db()
    assert (made.status, made.decided_by, made.answer) == ("approved", front_desk, "Sent")
    assert Message.objects.count() == 1


def test_declining_needs_an_answer(own, statin, front_desk):
    made = _ask(own, statin)
    rule = _refused(
        lambda: services.refill_request_decline(
            refill_request=made, decided_by=front_desk, answer=" "
        )
    )
    assert rule == "answer_required"
    made.refresh_from_db()
    assert made.is_pending


def test_the_answer_reaches_the_patient_as_a_message_and_a_notice(own, statin, front_desk):
    made = _ask(own, statin)
    services.refill_request_decline(
        refill_request=made, decided_by=front_desk, answer="Please book a review visit first."
    )
    made.refresh_from_db()
    assert made.status == "declined" and made.decided_at is not None
    thread = Thread.objects.get(patient=own.patient)
    assert thread.category == Thread.Category.PRESCRIPTION_REFILL
    assert "Atorvastatin" not in thread.subject
    [message] = thread.messages.all()
    assert message.sender_side == "staff" and message.author == front_desk
    assert "The clinic answered your refill request." in message.body
    # The answer is read with the medication, by whoever may see the health record.
    medications = portal_client(own.user, own.patient).get("/portal/health-record/medications/")
    assert "Please book a review visit first." in medications.content.decode()
    # One notice, the refill one (the message sends none of its own): no medication in it.
    [notice] = Notification.objects.filter(clinic=own.patient.clinic)
    assert (notice.template, notice.recipient) == ("refill_request_answered", own.patient.email)
    assert notice.context == {"refill_request_id": made.pk}
    assert AuditEvent.objects.filter(action="refill_request.declined").count() == 1


def test_the_notices_say_only_that_the_clinic_answered(own, statin, front_desk, sms_outbox):
    from django.core import mail

    from tests.clients import committed

    own.patient.mobile = "+15145550134"
    own.patient.notify_messages_by = "sms"
    own.patient.save()
    made = _ask(own, statin)
    committed(services.refill_request_approve, refill_request=made, decided_by=front_desk)
    [text] = sms_outbox
    assert "answered your refill request" in text.body
    assert "Atorvastatin" not in text.body and "approved" not in text.body
    own.patient.notify_messages_by = "email"
    own.patient.save()
    again = _ask(own, statin)
    committed(
        services.refill_request_decline,
        refill_request=again,
        decided_by=front_desk,
        answer="Not now",
    )
    [email] = mail.outbox
    assert "answered your refill request" in email.subject
    assert "Atorvastatin" not in email.body and "Not now" not in email.body


def test_the_message_speaks_the_patients_language(own, statin, front_desk):
    own.patient.preferred_language = "fr"
    own.patient.save()
    made = _ask(own, statin)
    services.refill_request_approve(refill_request=made, decided_by=front_desk)
    message = Message.objects.get()
    assert "La clinique a répondu à votre demande de renouvellement." in message.body
    assert Thread.objects.get().subject == "Votre demande de renouvellement a reçu une réponse"


@pytest.mark.parametrize("decide", ["approve", "decline"])
def test_the_message_holds_nothing_of_the_record(own, statin, front_desk, decide):
    """Someone who reads the patient's messages without the health record (a carer with
    the messages scope) learns from it neither the medication, nor the decision, nor the
    clinic's answer: the Medications page shows them."""
    made = _ask(own, statin)
    getattr(services, f"refill_request_{decide}")(
        refill_request=made, decided_by=front_desk, answer="Ready after 2 p.m. at Main St"
    )
    thread = Thread.objects.get()
    text = thread.subject + Message.objects.get().body
    for secret in ("Atorvastatin", "approved", "declined", "Ready after 2 p.m."):
        assert secret not in text


def test_the_notice_reaches_representatives_who_may_see_the_health_record(own, statin, front_desk):
    from django.core import mail

    from tests.clients import committed
    from tests.factories import UserFactory

    def carer(name, **scopes):
        user = UserFactory(clinic=own.clinic, username=name, email=f"{name}@example.org")
        PatientAccessFactory(user=user, patient=own.patient, relationship="carer", **scopes)

    carer("reads-messages", can_messages=True, can_health_record=False)
    carer("reads-the-record", can_messages=False, can_health_record=True)
    made = _ask(own, statin)
    committed(services.refill_request_approve, refill_request=made, decided_by=front_desk)
    told = sorted(address for m in mail.outbox for address in m.to)
    assert told == ["mara@example.org", "reads-the-record@example.org"]


# --- The patient's pages ---------------------------------------------------------------------


def test_each_active_prescription_offers_a_refill(client, own, statin):
    MedicationFactory(patient=own.patient, display="Old antibiotic", status="completed")
    MedicationFactory(patient=own.patient, display="Vitamin D", kind="statement")
    page = client.get(MEDICATIONS).content.decode()
    assert page.count("Request a refill") == 1
    assert f'href="{refill_url(statin)}"' in page


def test_the_patient_asks_and_sees_the_request_waiting(client, own, statin):
    form = client.get(refill_url(statin))
    assert form.status_code == 200
    assert "Atorvastatin 20 mg tablet" in form.content.decode()
    assert "Note for the pharmacy" in form.content.decode()
    sent = client.post(refill_url(statin), {"pharmacy_note": "Main Street Pharmacy"}, follow=True)
    page = sent.content.decode()
    assert sent.redirect_chain[-1][0] == f"{MEDICATIONS}#medication-{statin.pk}"
    assert "Your refill request was sent to the clinic" in page
    assert "Refill requested on" in page
    assert "Request a refill" not in page
    assert RefillRequest.objects.get().pharmacy_note == "Main Street Pharmacy"
    again = client.get(refill_url(statin)).content.decode()
    assert "Refill requested on" in again and "<textarea" not in again


def test_a_second_post_for_a_waiting_request_is_told_clearly(client, own, statin):
    _ask(own, statin)
    answer = client.post(refill_url(statin), {"pharmacy_note": "Other pharmacy"})
    assert answer.status_code == 200
    assert "Refill requested on" in answer.content.decode()
    assert RefillRequest.objects.count() == 1


def test_an_empty_note_shows_the_form_again(client, statin):
    answer = client.post(refill_url(statin), {"pharmacy_note": ""})
    assert answer.status_code == 200 and "This field is required" in answer.content.decode()
    assert not RefillRequest.objects.exists()


def test_a_forged_post_for_another_chart_or_an_inactive_medication_is_a_404(
    client, own, clinic, other_clinic
):
    forged = [
        MedicationFactory(patient=PatientFactory(clinic=clinic), status="active"),
        MedicationFactory(patient=PatientFactory(clinic=other_clinic), status="active"),
        MedicationFactory(patient=own.patient, status="stopped"),
    ]
    for medication in forged:
        assert client.get(refill_url(medication)).status_code == 404
        assert client.post(refill_url(medication), {"pharmacy_note": "x"}).status_code == 404
    assert client.post(f"{MEDICATIONS}999999/refill/", {"pharmacy_note": "x"}).status_code == 404
    assert not RefillRequest.objects.exists()


def test_a_representative_gets_a_404(own, clinic):
    """Mara acting for her husband Theo: his medication's refill is not hers to ask."""
    husband = PatientFactory(clinic=clinic, first_name="Theo", last_name="Okafor")
    PatientAccessFactory(user=own.user, patient=husband, relationship="spouse")
    inhaler = MedicationFactory(patient=husband, display="Salbutamol inhaler", status="active")
    client = portal_client(own.user, husband)
    assert client.get(refill_url(inhaler)).status_code == 404
    assert client.post(refill_url(inhaler), {"pharmacy_note": "x"}).status_code == 404
    assert not RefillRequest.objects.exists()


def test_the_decision_shows_on_the_medication(client, own, statin, front_desk):
    made = _ask(own, statin)
    services.refill_request_decline(
        refill_request=made, decided_by=front_desk, answer="Please book a review visit."
    )
    page = client.get(MEDICATIONS).content.decode()
    assert "Refill declined on" in page and "Please book a review visit." in page
    assert "Request a refill" in page  # may ask again


def test_the_refill_pages_speak_french(client, own, statin):
    client.cookies["django_language"] = "fr"
    assert "Demander un renouvellement" in client.get(MEDICATIONS).content.decode()
    form = client.get(refill_url(statin)).content.decode()
    assert "Note pour la pharmacie" in form
    sent = client.post(refill_url(statin), {"pharmacy_note": "Pharmacie"}, follow=True)
    assert "Renouvellement demandé le" in sent.content.decode()


# --- The front desk's queue ---------------------------------------------------------------------


def test_the_queue_lists_waiting_requests_of_the_clinic_only(own, statin, front_desk, other_clinic):
    waiting = _ask(own, statin)
    answered = RefillRequestFactory(
        medication=MedicationFactory(patient=own.patient, display="Answered drug"),
        status=RefillRequest.Status.APPROVED,
    )
    RefillRequestFactory(
        medication=MedicationFactory(
            patient=PatientFactory(clinic=other_clinic), display="Elsewhere drug"
        )
    )
    page = staff_client(front_desk).get(QUEUE).content.decode()
    assert "Atorvastatin" in page
    assert "Answered drug" not in page and "Elsewhere drug" not in page
    assert "Answered drug" in staff_client(front_desk).get(QUEUE + "?status=all").content.decode()
    assert staff_client(front_desk).get(f"{QUEUE}{waiting.pk}/change/").status_code == 200
    assert answered.pk


def test_staff_of_another_clinic_never_see_it(own, statin, outsider_staff):
    made = _ask(own, statin)
    client = staff_client(outsider_staff, host="demo")
    for url in (f"{QUEUE}{made.pk}/change/", QUEUE):
        assert client.get(url).status_code in (302, 403, 404)
    own_host = staff_client(outsider_staff)
    assert "Atorvastatin" not in own_host.get(QUEUE).content.decode()
    assert own_host.get(f"{QUEUE}{made.pk}/change/").status_code in (302, 404)
    for action in ("approve", "decline"):
        answer = own_host.post(f"{QUEUE}{made.pk}/{action}/", {"answer": "no"})
        assert answer.status_code == 404
    made.refresh_from_db()
    assert made.is_pending


def test_the_front_desk_approves_with_an_answer(own, statin, front_desk):
    made = _ask(own, statin)
    client = staff_client(front_desk)
    page = client.get(f"{QUEUE}{made.pk}/change/").content.decode()
    assert "Main Street Pharmacy" in page and "Approve" in page
    done = client.post(f"{QUEUE}{made.pk}/approve/", {"answer": "Sent to your pharmacy."})
    assert done.status_code == 302 and done["Location"] == QUEUE
    made.refresh_from_db()
    assert (made.status, made.decided_by, made.answer) == (
        "approved",
        front_desk,
        "Sent to your pharmacy.",
    )
    assert "The clinic answered your refill request." in Message.objects.get().body
    again = client.post(f"{QUEUE}{made.pk}/decline/", {"answer": "No"}, follow=True)
    assert "already been answered" in again.content.decode()
    made.refresh_from_db()
    assert made.status == "approved"


def test_the_front_desk_declines_only_with_an_answer(own, statin, front_desk):
    made = _ask(own, statin)
    client = staff_client(front_desk)
    refused = client.post(f"{QUEUE}{made.pk}/decline/", {"answer": ""}, follow=True)
    assert "Give the patient an answer" in refused.content.decode()
    made.refresh_from_db()
    assert made.is_pending
    client.post(f"{QUEUE}{made.pk}/decline/", {"answer": "Please call us."})
    made.refresh_from_db()
    assert (made.status, made.answer) == ("declined", "Please call us.")


def test_staff_without_the_change_permission_may_not_answer(own, statin, clinic):
    made = _ask(own, statin)
    viewer = StaffFactory(clinic=clinic, username="viewer")
    viewer.groups.clear()
    client = staff_client(viewer)
    assert client.post(f"{QUEUE}{made.pk}/approve/", {"answer": ""}).status_code == 403
    made.refresh_from_db()
    assert made.is_pending


def test_the_workboard_counts_waiting_requests(own, statin, front_desk):
    _ask(own, statin)
    page = staff_client(front_desk).get("/admin/").content.decode()
    assert "Refill requests" in page


# --- Races (PostgreSQL) -------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_posts_at_once_make_one_request_and_a_clear_answer(clinic):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks; this run uses " + connection.vendor)
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic), user__username="mara")
    medication = MedicationFactory(patient=grant.patient, status="active")
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def post():
        try:
            connection.ensure_connection()
            client = portal_client(grant.user, grant.patient, raise_request_exception=False)
            barrier.wait(timeout=20)
            answer = client.post(refill_url(medication), {"pharmacy_note": "Main Street"})
            if answer.status_code == 302:
                outcomes.append("made")
            elif answer.status_code == 200 and "Refill requested on" in answer.content.decode():
                outcomes.append("told")
            else:
                outcomes.append(answer.status_code)
        except Exception as exc:  # noqa: BLE001 - any other error is the failure we look for
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == ["made", "told"]
    assert RefillRequest.objects.filter(medication=medication).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_constraint_holds_when_the_check_is_passed_at_once(clinic, monkeypatch):
    """Without the lock on the medication, two writers pass the check together: the
    database refuses the second and the service says ``already_requested``."""
    if connection.vendor != "postgresql":
        pytest.skip("needs two PostgreSQL connections; this run uses " + connection.vendor)
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic))
    medication = MedicationFactory(patient=grant.patient, status="active")
    barrier = threading.Barrier(2)
    real_create = RefillRequest.objects.create

    def create_together(**kwargs):
        barrier.wait(timeout=20)  # both have passed the check
        return real_create(**kwargs)

    monkeypatch.setattr(services.RefillRequest.objects, "create", create_together)
    monkeypatch.setattr(
        services.selectors,
        "refillable_medications",
        lambda patient: _NoLock(type(medication).objects.filter(pk=medication.pk)),
    )
    outcomes, errors = [], []

    def ask():
        try:
            connection.ensure_connection()
            _ask(grant, medication)
            outcomes.append("made")
        except services.RefillRefused as refusal:
            outcomes.append(refusal.rule)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == ["already_requested", "made"]


class _NoLock:
    """A queryset whose ``select_for_update`` locks nothing (to reach the constraint)."""

    def __init__(self, queryset):
        self.queryset = queryset

    def select_for_update(self):
        return self.queryset
