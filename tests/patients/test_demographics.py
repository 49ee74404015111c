"""My information and the Patient Requests queue."""

import threading

import pytest
from django.db import connection, connections

from patients import demographics
from patients.models import ChangeRequest, Patient
from portal.audit.models import AuditEvent
from tests.clients import host_client, portal_client, staff_client
from tests.factories import PatientAccessFactory, PatientFactory, UserFactory
from tests.patients.flows import NEW_ID, NEW_MOBILE, last_code, registration_form, sign_in

pytestmark = pytest.mark.django_db

EDIT = "/portal/my-information/change/"
INFO = "/portal/my-information/"


@pytest.fixture
def ada(clinic):
    patient = PatientFactory(
        clinic=clinic,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        mobile="+16135550150",
        address_line1="1 Old Street",
        city="Ottawa",
    )
    return PatientAccessFactory(patient=patient)


def _form(patient, **changes):
    values = demographics.chart_values(patient)
    values.update(changes)
    return values


def _ask(grant, **changes):
    c = portal_client(grant.user, grant.patient)
    return c, c.post(EDIT, _form(grant.patient, **changes))


def test_the_page_shows_the_charts_details(ada):
    content = portal_client(ada.user, ada.patient).get(INFO).content.decode()
    assert "1 Old Street" in content
    assert "Lovelace" in content
    assert AuditEvent.objects.filter(action="patient.viewed", acting_for=ada.patient).exists()


def test_asking_creates_one_item_per_changed_field_and_leaves_the_chart_alone(ada):
    _c, response = _ask(ada, address_line1="2 New Road", city="Kanata")
    assert response["Location"] == INFO
    change_request = ChangeRequest.objects.get(patient=ada.patient, kind="change")
    items = {i.field: (i.old_value, i.new_value) for i in change_request.items.all()}
    assert items == {"address_line1": ("1 Old Street", "2 New Road"), "city": ("Ottawa", "Kanata")}
    ada.patient.refresh_from_db()
    assert ada.patient.address_line1 == "1 Old Street"
    event = AuditEvent.objects.get(action="change_request.created")
    assert event.details["changes"]["city"] == ["Ottawa", "Kanata"]


def test_a_forged_post_cannot_write_to_the_chart(ada, clinic):
    c = portal_client(ada.user, ada.patient)
    other = PatientFactory(clinic=clinic)
    c.post(
        EDIT,
        {
            **_form(ada.patient, city="Kanata"),
            "status": "inactive",
            "clinic": 999,
            "patient": other.pk,
            "portal_revoked_at": "2020-01-01",
        },
    )
    c.post(INFO, {"city": "Forged"})
    ada.patient.refresh_from_db()
    assert ada.patient.city == "Ottawa"
    assert ada.patient.status == Patient.Status.ACTIVE
    [item] = ChangeRequest.objects.get(patient=ada.patient).items.all()
    assert item.field == "city"
    assert not ChangeRequest.objects.filter(patient=other).exists()


def test_another_patients_request_is_a_404(ada, clinic):
    other = PatientAccessFactory(patient=PatientFactory(clinic=clinic))
    _c, _r = _ask(other, city="Elsewhere")
    theirs = ChangeRequest.objects.get(patient=other.patient)
    c = portal_client(ada.user, ada.patient)
    assert c.post(f"/portal/my-information/requests/{theirs.pk}/withdraw/").status_code == 404
    assert "Elsewhere" not in c.get(INFO).content.decode()
    theirs.refresh_from_db()
    assert theirs.status == ChangeRequest.Status.PENDING


def test_a_pending_request_can_be_withdrawn_once(ada):
    c, _r = _ask(ada, city="Kanata")
    change_request = ChangeRequest.objects.get(patient=ada.patient)
    c.post(f"/portal/my-information/requests/{change_request.pk}/withdraw/")
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequest.Status.WITHDRAWN
    assert not demographics.change_request_withdraw(
        request=None, change_request=change_request, user=ada.user
    )


def test_accept_applies_exactly_the_accepted_fields(ada, front_desk):
    _ask(ada, address_line1="2 New Road", city="Kanata", last_name="Byron")
    change_request = ChangeRequest.objects.get(patient=ada.patient)
    staff_client(front_desk).post(
        f"/admin/patients/changerequest/{change_request.pk}/decide/",
        {"decision": "accept_selected", "accept": ["address_line1", "city"]},
    )
    ada.patient.refresh_from_db()
    assert (ada.patient.address_line1, ada.patient.city, ada.patient.last_name) == (
        "2 New Road",
        "Kanata",
        "Lovelace",
    )
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequest.Status.PARTLY
    decisions = dict(change_request.items.values_list("field", "decision"))
    assert decisions == {"address_line1": "accepted", "city": "accepted", "last_name": "declined"}
    event = AuditEvent.objects.get(action="patient.changed")
    assert event.details["changes"] == {
        "address_line1": ["1 Old Street", "2 New Road"],
        "city": ["Ottawa", "Kanata"],
    }


def test_decline_changes_nothing_and_tells_the_patient_without_details(
    ada, front_desk, django_capture_on_commit_callbacks
):
    from django.core import mail

    _ask(ada, city="Kanata")
    change_request = ChangeRequest.objects.get(patient=ada.patient)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client(front_desk).post(
            f"/admin/patients/changerequest/{change_request.pk}/decide/",
            {"decision": "decline", "reason": "Please bring proof of address"},
        )
    ada.patient.refresh_from_db()
    assert ada.patient.city == "Ottawa"
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequest.Status.DECLINED
    assert "Kanata" not in mail.outbox[-1].body
    page = portal_client(ada.user, ada.patient).get(INFO).content.decode()
    assert "Declined" in page
    assert "Please bring proof of address" in page


def test_a_chart_changed_since_the_request_is_a_conflict_staff_resolve(ada, front_desk):
    _ask(ada, city="Kanata")
    change_request = ChangeRequest.objects.get(patient=ada.patient)
    Patient.objects.filter(pk=ada.patient.pk).update(city="Nepean")
    with pytest.raises(demographics.ChartChanged) as conflict:
        demographics.change_request_decide(
            request=None,
            change_request=change_request,
            decided_by=front_desk,
            accept={"city"},
        )
    assert [(c.field, c.asked_over, c.chart_now, c.proposed) for c in conflict.value.conflicts] == [
        ("city", "Ottawa", "Nepean", "Kanata")
    ]
    ada.patient.refresh_from_db()
    assert ada.patient.city == "Nepean"
    page = (
        staff_client(front_desk)
        .get(f"/admin/patients/changerequest/{change_request.pk}/change/")
        .content.decode()
    )
    assert "Changed since the patient asked" in page
    demographics.change_request_decide(
        request=None,
        change_request=change_request,
        decided_by=front_desk,
        accept={"city"},
        overwrite={"city"},
    )
    ada.patient.refresh_from_db()
    assert ada.patient.city == "Kanata"


def test_deciding_twice_applies_once(ada, front_desk, clinic_admin):
    _ask(ada, city="Kanata")
    change_request = ChangeRequest.objects.get(patient=ada.patient)
    demographics.change_request_decide(
        request=None, change_request=change_request, decided_by=front_desk, accept={"city"}
    )
    with pytest.raises(demographics.AlreadyDecided):
        demographics.change_request_decide(
            request=None, change_request=change_request, decided_by=clinic_admin, accept=set()
        )
    assert AuditEvent.objects.filter(action="patient.changed").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_staff_accepting_at_once_apply_it_once(clinic, front_desk, clinic_admin):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks; this run uses " + connection.vendor)
    patient = PatientFactory(clinic=clinic, city="Ottawa")
    user = UserFactory(clinic=clinic)
    change_request = demographics.change_request_create(
        request=None, patient=patient, requested_by=user, proposed={"city": "Kanata"}
    )
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(staff):
        try:
            barrier.wait(timeout=10)
            demographics.change_request_decide(
                request=None, change_request=change_request, decided_by=staff, accept={"city"}
            )
            outcomes.append("applied")
        except demographics.AlreadyDecided:
            outcomes.append("already")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(s,)) for s in (front_desk, clinic_admin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["already", "applied"]
    assert AuditEvent.objects.filter(action="patient.changed").count() == 1


def test_a_representative_without_the_demographics_scope_cannot_ask(ada):
    carer = UserFactory(clinic=ada.clinic)
    PatientAccessFactory(
        user=carer, patient=ada.patient, relationship="carer", can_demographics=False
    )
    c = portal_client(carer, ada.patient)
    assert c.get(INFO).status_code == 403
    assert c.post(EDIT, _form(ada.patient, city="Kanata")).status_code == 403
    assert not ChangeRequest.objects.exists()


def test_a_new_email_is_confirmed_with_a_code_before_the_request_goes(
    ada, django_capture_on_commit_callbacks
):
    from django.core import mail

    c = portal_client(ada.user, ada.patient)
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post(EDIT, _form(ada.patient, email="ada.new@example.com"))
    assert response["Location"] == "/portal/my-information/confirm/"
    assert not ChangeRequest.objects.exists()
    assert mail.outbox[-1].to == ["ada.new@example.com"]
    assert c.post("/portal/my-information/confirm/", {"code": "000000"}).status_code == 200
    assert not ChangeRequest.objects.exists()
    c.post("/portal/my-information/confirm/", {"code": last_code("email")})
    [item] = ChangeRequest.objects.get().items.all()
    assert (item.field, item.new_value) == ("email", "ada.new@example.com")


def test_notice_preferences_apply_at_once(ada):
    c = portal_client(ada.user, ada.patient)
    c.post(
        "/portal/my-information/notices/",
        {"notify_appointments_by": "sms", "notify_messages_by": "none"},
    )
    ada.patient.refresh_from_db()
    assert (ada.patient.notify_appointments_by, ada.patient.notify_messages_by) == ("sms", "none")
    assert not ChangeRequest.objects.exists()
    from patients.contacts import notice_recipients

    recipients = notice_recipients(ada.patient, scope="appointments")
    assert [(r.channel, r.address) for r in recipients] == [("sms", "+16135550150")]


def test_self_registrations_and_identity_confirmations_land_in_the_same_queue(clinic, front_desk):
    c = host_client(committing=True)
    sign_in(c, id_number=NEW_ID, contact=NEW_MOBILE)
    c.post("/portal/register/", registration_form(email="Amara@Example.com"))
    kinds = list(ChangeRequest.objects.values_list("kind", flat=True))
    assert kinds == ["registration"]
    patient = Patient.objects.get(last_name="Nwosu")
    # Someone proves a contact that is not on an existing chart: an identity confirmation.
    PatientFactory(clinic=clinic, email="chart@example.com")
    other = host_client(committing=True)
    sign_in(other, id_number=NEW_ID, contact="613 555 0199")
    assert sorted(ChangeRequest.objects.values_list("kind", flat=True)) == [
        "registration",
        "verification",
    ]
    assert ChangeRequest.objects.get(kind="verification").patient == patient
    queue = staff_client(front_desk).get("/admin/patients/changerequest/")
    assert {r.kind for r in queue.context["cl"].result_list} == {"registration", "verification"}
    registration = ChangeRequest.objects.get(kind="registration")
    demographics.change_request_decide(
        request=None, change_request=registration, decided_by=front_desk, accept={"*"}
    )
    assert Patient.objects.get(last_name="Nwosu").status == Patient.Status.ACTIVE
