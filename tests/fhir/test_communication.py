"""Communication: the portal's messages read and searched by the clinic's record system,
and messages it sends to a patient through the messaging services, with the rules,
notices and audit of a message staff send from the admin."""

import datetime as dt

import pytest
from django.core import mail
from django.test import Client
from fhirpy import SyncFHIRClient

from messaging import services as messaging
from messaging.models import Message, Side, Thread
from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from tests.factories import (
    AttachmentFactory,
    ClinicDomainFactory,
    MessageFactory,
    PatientAccessFactory,
    PatientFactory,
    PoolFactory,
    StaffFactory,
    ThreadFactory,
    UserFactory,
)
from tests.fhir.smart import get_token, register
from tests.fhir.test_api import Api, parses
from tests.fhir.test_live_client import smart_token
from tests.uploads import checked

pytestmark = pytest.mark.django_db

THREAD = "urn:portal:fhir:message-thread"
CATEGORY = "urn:portal:fhir:message-category"
SCOPES = "system/Communication.crs"


@pytest.fixture
def ehr(clinic):
    return register(clinic, scopes=SCOPES, name="talk")


@pytest.fixture
def api(frozen, ehr):
    return Api(get_token(Client(), ehr, scope=SCOPES, key_name="talk"))


@pytest.fixture
def own_grant(clinic):
    chart = PatientFactory(
        clinic=clinic, first_name="Olivia", last_name="Martin", email="olivia@example.com"
    )
    return PatientAccessFactory(patient=chart)


@pytest.fixture
def chart(own_grant):
    return own_grant.patient


@pytest.fixture
def nurse(clinic):
    return StaffFactory(clinic=clinic, first_name="Nora", last_name="Nurse")


@pytest.fixture
def conversation(clinic, chart, own_grant, nurse, frozen, now):
    """The clinic writes (with a PDF) half an hour ago, the patient answers ten minutes
    later (the clinic acknowledges), then the patient's mother writes ten minutes after
    that: four messages in one thread. The clock is back at ``now`` afterwards (so the
    API's tokens have not expired)."""
    frozen.move_to(now - dt.timedelta(minutes=30))
    thread = messaging.thread_start(
        clinic=clinic,
        patient=chart,
        subject="Your results",
        category="general",
        body="Please call us.",
        author=nurse,
        attachments=[checked()],
    )
    frozen.shift(dt.timedelta(minutes=10))
    messaging.message_post(
        thread=thread, body="I will call.", author=own_grant.user, access=own_grant
    )
    frozen.shift(dt.timedelta(minutes=10))
    mother = PatientAccessFactory(
        patient=chart,
        relationship="parent",
        user=UserFactory(clinic=clinic, first_name="Maude", last_name="Martin"),
    )
    messaging.message_post(thread=thread, body="Me too.", author=mother.user, access=mother)
    frozen.move_to(now)
    return thread, mother


def new_message(chart, **fields):
    return {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{chart.pk}"},
        "topic": {"text": "Your lab results"},
        "category": [{"coding": [{"system": CATEGORY, "code": "referral"}]}],
        "payload": [{"contentString": "Your results are in. Please book a visit."}],
        **fields,
    }


def ids(bundle):
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


# --- Read and search -----------------------------------------------------------------------


def test_each_message_is_a_communication_of_its_thread(api, ehr, clinic, chart, conversation):
    thread, mother = conversation
    first, reply, acknowledgement, mothers = thread.messages.order_by("created_at", "pk")
    assert acknowledgement.automatic

    found = {
        entry["resource"]["id"]: entry["resource"]
        for entry in parses(api.get("Communication").json())["entry"]
    }

    patient = {"reference": f"Patient/{chart.pk}"}
    clinic_side = {"type": "Organization", "display": clinic.public_name}
    opening = found[str(first.pk)]
    assert opening["identifier"] == [{"system": THREAD, "value": str(thread.pk)}]
    assert opening["status"] == "completed"
    assert opening["category"] == [{"coding": [{"system": CATEGORY, "code": "general"}]}]
    assert opening["topic"] == {"text": "Your results"}
    assert opening["subject"] == patient
    assert opening["sent"] == opening["meta"]["lastUpdated"] == "2030-01-15T13:30:00Z"
    assert opening["sender"] == {"display": "Nora Nurse"}
    assert opening["recipient"] == [patient]
    assert "inResponseTo" not in opening
    text, attachment = opening["payload"]
    assert text == {"contentString": "Please call us."}
    assert attachment["contentAttachment"] == {
        "contentType": "application/pdf",
        "title": "results.pdf",
        "size": first.attachments.get().size,
        "creation": "2030-01-15T13:30:00Z",
    }
    answer = found[str(reply.pk)]
    assert answer["sender"] == {**patient, "display": "Olivia Martin"}
    assert answer["recipient"] == [clinic_side]
    assert answer["inResponseTo"] == [{"reference": f"Communication/{first.pk}"}]
    assert found[str(acknowledgement.pk)]["inResponseTo"] == [
        {"reference": f"Communication/{reply.pk}"}
    ]
    assert found[str(mothers.pk)]["sender"] == {
        "reference": f"RelatedPerson/{mother.pk}",
        "display": "Maude Martin",
    }
    assert found[str(mothers.pk)]["inResponseTo"] == [
        {"reference": f"Communication/{acknowledgement.pk}"}
    ]
    read = api.get(f"Communication/{first.pk}")
    assert parses(read.json()) == opening
    event = AuditEvent.objects.filter(action="fhir.read").get()
    assert (event.actor, event.acting_for, event.object_id) == (ehr.account, chart, str(first.pk))


def test_it_searches_by_patient_and_time_sent(api, clinic, chart, conversation, frozen):
    thread, _mother = conversation
    others = MessageFactory(thread=ThreadFactory(patient=PatientFactory(clinic=clinic)))
    mine = [str(pk) for pk in thread.messages.order_by("pk").values_list("pk", flat=True)]

    by_patient = api.get("Communication", patient=str(chart.pk)).json()
    by_subject = api.get("Communication", subject=f"Patient/{chart.pk}").json()
    later = api.get("Communication", patient=str(chart.pk), sent="ge2030-01-15T13:40:00Z").json()
    today = api.get("Communication", sent="2030-01-15").json()
    since = api.get("Communication", _lastUpdated="gt2030-01-15T13:40:00Z").json()

    assert ids(by_patient) == ids(by_subject) == mine
    assert ids(later) == mine[1:]
    assert ids(today) == [*mine, str(others.pk)]
    assert ids(since) == [mine[-1], str(others.pk)]
    assert api.get("Communication", sent="2030-02-30").status_code == 400
    assert api.get("Communication", category="general").status_code == 400
    # Ids are ASCII digits: another script's digits are no id, not the same number.
    full_width = "".join(chr(0xFF10 + int(d)) for d in str(chart.pk))
    assert api.get("Communication", patient=full_width).status_code == 400


def test_another_clinics_messages_are_not_found(api, other_clinic):
    theirs = MessageFactory(thread=ThreadFactory(patient=PatientFactory(clinic=other_clinic)))

    response = api.get(f"Communication/{theirs.pk}")

    assert response.status_code == 404
    assert parses(response.json())["issue"][0]["code"] == "not-found"
    assert ids(api.get("Communication").json()) == []
    assert ids(api.get("Communication", patient=str(theirs.thread.patient_id)).json()) == []


def test_a_page_of_messages_costs_the_same_for_one_or_many(
    api, clinic, chart, frozen, django_assert_num_queries
):
    thread = ThreadFactory(patient=chart)
    AttachmentFactory(message=MessageFactory(thread=thread))
    with django_assert_num_queries(QUERIES_PER_PAGE):
        one = api.get("Communication")
    for number in range(54):
        message = MessageFactory(thread=ThreadFactory(patient=chart) if number % 2 else thread)
        if number % 3 == 0:
            AttachmentFactory(message=message)

    with django_assert_num_queries(QUERIES_PER_PAGE):
        many = api.get("Communication", _count=60)

    assert len(parses(one.json())["entry"]) == 1
    assert len(parses(many.json())["entry"]) == 55


# The token (with its client and account), the page (messages with their threads,
# previous messages and representatives' grants in one statement), its attachments, and
# the audit event.
QUERIES_PER_PAGE = 4


# --- Create ----------------------------------------------------------------------------


def test_the_record_system_starts_a_thread_as_staff_would(
    api, ehr, clinic, chart, frozen, django_capture_on_commit_callbacks
):
    pool = PoolFactory(clinic=clinic, categories=["referral"])

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("Communication", new_message(chart))

    assert response.status_code == 201, response.content
    created = parses(response.json())
    message = Message.objects.get()
    assert response["Location"] == f"http://demo.localhost/fhir/R4/Communication/{message.pk}"
    assert created["id"] == str(message.pk)
    assert created["payload"] == [{"contentString": "Your results are in. Please book a visit."}]
    assert created["recipient"] == [{"reference": f"Patient/{chart.pk}"}]
    thread = message.thread
    assert (thread.patient, thread.subject, thread.category, thread.pool) == (
        chart,
        "Your lab results",
        "referral",
        pool,
    )
    assert (message.sender_side, message.author, thread.started_by) == (
        Side.STAFF,
        ehr.account,
        ehr.account,
    )
    # Told as for any staff message, with no health information in the notice.
    notice = Notification.objects.get()
    assert (notice.template, notice.recipient) == ("message_new", "olivia@example.com")
    [email] = mail.outbox
    for secret in ("results", "visit", "Martin"):
        assert secret not in email.subject + email.body
    actions = AuditEvent.objects.filter(actor=ehr.account, acting_for=chart)
    assert set(actions.values_list("action", flat=True)) == {
        "message.thread_started",
        "message.sent",
    }


def test_a_reply_goes_into_the_thread_it_answers(api, chart, conversation, frozen):
    thread, _mother = conversation
    last = thread.messages.order_by("created_at", "pk").last()
    frozen.shift(dt.timedelta(minutes=1))

    by_reference = api.post(
        "Communication",
        new_message(chart, inResponseTo=[{"reference": f"Communication/{last.pk}"}]),
    )
    frozen.shift(dt.timedelta(minutes=1))
    by_identifier = api.post(
        "Communication",
        new_message(chart, identifier=[{"system": THREAD, "value": str(thread.pk)}]),
    )

    assert by_reference.status_code == by_identifier.status_code == 201
    assert by_reference.json()["inResponseTo"] == [{"reference": f"Communication/{last.pk}"}]
    assert by_identifier.json()["inResponseTo"] == [
        {"reference": f"Communication/{by_reference.json()['id']}"}
    ]
    assert Thread.objects.get() == thread
    thread.refresh_from_db()
    assert thread.last_sender_side == Side.STAFF
    assert thread.messages.count() == 6
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in str(thread.pk))
    other_digits = api.post(
        "Communication", new_message(chart, identifier=[{"system": THREAD, "value": arabic_indic}])
    )
    assert other_digits.status_code == 400
    assert thread.messages.count() == 6


def refused(api, body):
    response = api.post("Communication", body)
    assert response.status_code == 422, response.content
    outcome = parses(response.json())
    assert outcome["issue"][0]["code"] == "business-rule"
    return outcome["issue"][0]["diagnostics"]


def test_it_refuses_what_staff_could_not_send(api, clinic, chart, other_clinic, conversation):
    thread, mother = conversation
    theirs = PatientFactory(clinic=other_clinic)
    their_message = MessageFactory(thread=ThreadFactory(patient=theirs))
    neighbour = PatientFactory(clinic=clinic)
    neighbours_message = MessageFactory(thread=ThreadFactory(patient=neighbour))
    before = (Message.objects.count(), Notification.objects.count())

    assert "not a patient of this clinic" in refused(api, new_message(theirs))
    assert "text payload" in refused(api, new_message(chart, payload=[{"contentString": " "}]))
    assert "text payload" in refused(api, {**new_message(chart), "payload": []})
    for sender in (
        {"reference": f"Patient/{chart.pk}"},
        {"reference": f"RelatedPerson/{mother.pk}"},
        {"type": "Patient", "display": "Olivia Martin"},
        {"reference": "Organization/1"},
    ):
        assert "sender" in refused(api, new_message(chart, sender=sender))
    assert "recipient" in refused(
        api, new_message(chart, recipient=[{"reference": f"Patient/{neighbour.pk}"}])
    )
    for message in (neighbours_message, their_message):
        reply = new_message(chart, inResponseTo=[{"reference": f"Communication/{message.pk}"}])
        assert "inResponseTo" in refused(api, reply)
    neighbours_thread = {"system": THREAD, "value": str(neighbours_message.thread_id)}
    assert "one thread" in refused(api, new_message(chart, identifier=[neighbours_thread]))
    # The admin's own form rules: a subject to start a thread, a body of 5,000 at most.
    assert "subject" in refused(api, {**new_message(chart), "topic": None})
    assert "body" in refused(api, new_message(chart, payload=[{"contentString": "x" * 5001}]))
    attachment = {"contentAttachment": {"contentType": "application/pdf", "data": "JVBERg=="}}
    assert "text only" in refused(
        api, new_message(chart, payload=[{"contentString": "See file."}, attachment])
    )

    assert (Message.objects.count(), Notification.objects.count()) == before


def test_what_is_not_a_communication_the_clinic_can_send_is_a_400(api, chart):
    assert api.post("Communication", new_message(chart, status="in-progress")).status_code == 400
    assert api.post("Communication", new_message(chart, subject=None)).status_code == 400
    assert api.post("Communication", {"resourceType": "Patient"}).status_code == 400
    assert not Message.objects.exists()


def test_a_read_only_scope_cannot_send(clinic, chart, frozen):
    reader = register(clinic, scopes="system/Communication.rs", name="reader")
    api = Api(get_token(Client(), reader, scope="system/Communication.rs", key_name="reader"))

    assert api.get("Communication").status_code == 200
    assert api.post("Communication", new_message(chart)).status_code == 403
    assert not Message.objects.exists()


# --- A real FHIR client --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_record_system_sends_and_finds_a_message_with_fhirpy(
    live_server, settings, clinic, chart, frozen
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    ClinicDomainFactory(clinic=clinic, domain="127.0.0.1")
    base = f"http://127.0.0.1:{live_server.url.rsplit(':', 1)[1]}/fhir/R4"
    client = register(clinic, scopes=SCOPES, name="talk")
    fhir = SyncFHIRClient(base, authorization=f"Bearer {smart_token(base, client, SCOPES, 'talk')}")

    sent = fhir.resource(
        "Communication",
        **new_message(chart),
        sender={"type": "Organization", "display": clinic.public_name},
    )
    sent.save()
    found = fhir.resources("Communication").search(patient=f"Patient/{chart.pk}").fetch()

    assert [message.id for message in found] == [sent.id]
    assert found[0]["payload"][0]["contentString"].startswith("Your results are in.")
    assert Thread.objects.get(patient=chart).subject == "Your lab results"


def test_only_an_account_of_the_patients_clinic_writes_as_the_clinic(chart, other_clinic):
    outsider = register(other_clinic, scopes=SCOPES, name="talk").account

    with pytest.raises(messaging.MessagingRefused):
        messaging.thread_start(
            clinic=chart.clinic,
            patient=chart,
            subject="Hello",
            category="general",
            body="Hello",
            author=outsider,
            as_clinic=True,
        )
    assert not Message.objects.exists()
