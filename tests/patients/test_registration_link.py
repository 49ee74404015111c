"""Patient Requests: a new registration shows the ID the person typed and the clinic's
charts that may be the same person; staff may link the registration to one of them
instead ("Link to this chart instead"), only where the person proved that chart's own
email or mobile."""

import datetime as dt
import threading
from functools import partial

import pytest
from django.db import connection, connections

from patients import demographics, selectors
from patients.models import ChangeRequest, Patient, PatientAccess, PatientIdentifier
from patients.sessions import SESSION_PATIENT
from portal.audit.models import AuditEvent
from tests.clients import host_client, staff_client
from tests.factories import PatientAccessFactory, PatientFactory, UserFactory
from tests.patients.flows import NEW_ID, NEW_MOBILE, registration_form, sign_in, signed_in

pytestmark = pytest.mark.django_db

AMARA_DOB = dt.date(1990, 7, 4)


@pytest.fixture
def registered(clinic):
    """Amara registers with an ID no chart has, proving NEW_MOBILE."""
    c = host_client(committing=True)
    sign_in(c, id_number=NEW_ID, contact=NEW_MOBILE)
    assert c.post("/portal/register/", registration_form()).status_code == 302
    return ChangeRequest.objects.get(kind="registration")


@pytest.fixture
def her_old_chart(clinic):
    """The chart the clinic made for Amara years ago: her mobile, no ID number."""
    return PatientFactory(
        clinic=clinic,
        first_name="Amara",
        last_name="Nwosu",
        date_of_birth=AMARA_DOB,
        mobile=NEW_MOBILE,
        email="",
    )


@pytest.fixture
def namesake(clinic):
    """Same name and date of birth, another mobile: the person proved nothing of it."""
    return PatientFactory(
        clinic=clinic,
        first_name="AMARA",
        last_name="nwosu",
        date_of_birth=AMARA_DOB,
        mobile="+16135550199",
        email="someone.else@example.com",
    )


def _page(front_desk, change_request):
    response = staff_client(front_desk).get(
        f"/admin/patients/changerequest/{change_request.pk}/change/"
    )
    assert response.status_code == 200
    return response.content.decode()


def _link_url(change_request):
    return f"/admin/patients/changerequest/{change_request.pk}/link/"


def test_a_registration_shows_the_typed_id_and_the_likely_duplicates(
    her_old_chart, namesake, registered, front_desk, clinic
):
    page = _page(front_desk, registered)
    assert "ID the patient typed" in page
    assert "Provincial health card" in page and "1234567890" in page
    assert "Possible duplicate charts" in page
    assert str(her_old_chart) in page and str(namesake) in page
    assert "Same name and date of birth, Same mobile" in page
    # Only the chart whose mobile the person proved can be linked.
    assert f"{_link_url(registered)}?chart={her_old_chart.pk}" in page
    assert f"?chart={namesake.pk}" not in page
    assert "is not on that chart" in page
    assert "(613) 555-0142" in page and "+16135550142" not in page


def test_a_registration_without_duplicates_says_so(registered, front_desk):
    assert "No other chart of the clinic has" in _page(front_desk, registered)


def test_staff_link_the_registration_to_the_chart_the_person_proved_after_confirming(
    her_old_chart, registered, front_desk, clinic
):
    staff = staff_client(front_desk)
    confirm = staff.get(_link_url(registered), {"chart": her_old_chart.pk})
    assert confirm.status_code == 200
    assert "Confirm: link to this chart" in confirm.content.decode()
    new_chart = registered.patient
    assert Patient.objects.get(pk=new_chart.pk).status == Patient.Status.PENDING  # GET: nothing

    done = staff.post(_link_url(registered), {"chart": her_old_chart.pk})
    assert done.status_code == 302

    registered.refresh_from_db()
    assert registered.status == ChangeRequest.Status.LINKED
    assert registered.linked_chart == her_old_chart and registered.decided_by == front_desk
    account = registered.requested_by
    live = PatientAccess.objects.filter(user=account, revoked_at__isnull=True)
    assert [g.patient_id for g in live] == [her_old_chart.pk]
    assert Patient.objects.get(pk=new_chart.pk).status == Patient.Status.INACTIVE
    assert PatientIdentifier.objects.get(number="1234567890").patient == her_old_chart
    event = AuditEvent.objects.get(action="change_request.linked")
    assert event.actor == front_desk and event.acting_for == her_old_chart
    assert event.details == {"registration_chart": new_chart.pk, "chart": her_old_chart.pk}

    # Next time she signs in with her ID and mobile, she is in the clinic's chart.
    c = host_client(committing=True)
    sign_in(c, id_number=NEW_ID, contact=NEW_MOBILE)
    assert signed_in(c)
    assert c.session[SESSION_PATIENT] == her_old_chart.pk


def test_it_refuses_a_chart_whose_contact_the_person_did_not_prove(
    namesake, registered, front_desk
):
    staff = staff_client(front_desk)
    confirm = staff.get(_link_url(registered), {"chart": namesake.pk}).content.decode()
    assert "is not on that chart" in confirm and "Confirm: link" not in confirm
    staff.post(_link_url(registered), {"chart": namesake.pk})
    registered.refresh_from_db()
    assert registered.status == ChangeRequest.Status.PENDING
    assert not PatientAccess.objects.filter(patient=namesake).exists()
    with pytest.raises(demographics.CannotLink):
        demographics.registration_link_to_chart(
            request=None, change_request=registered, chart_id=namesake.pk, decided_by=front_desk
        )


def test_it_refuses_a_chart_someone_already_uses_as_its_patient(
    her_old_chart, registered, front_desk
):
    PatientAccessFactory(patient=her_old_chart)
    with pytest.raises(demographics.CannotLink) as refused:
        demographics.registration_link_to_chart(
            request=None,
            change_request=registered,
            chart_id=her_old_chart.pk,
            decided_by=front_desk,
        )
    assert refused.value.reason == selectors.CHART_HAS_ACCOUNT


def test_it_refuses_a_chart_with_another_number_for_the_typed_id_type(
    her_old_chart, registered, front_desk, clinic
):
    typed = PatientIdentifier.objects.get(number="1234567890")
    PatientIdentifier.objects.create(
        clinic=clinic, patient=her_old_chart, id_type=typed.id_type, number="9999999999"
    )
    with pytest.raises(demographics.CannotLink):
        demographics.registration_link_to_chart(
            request=None,
            change_request=registered,
            chart_id=her_old_chart.pk,
            decided_by=front_desk,
        )


def test_another_clinics_chart_is_a_404(registered, front_desk, other_clinic):
    theirs = PatientFactory(
        clinic=other_clinic, first_name="Amara", last_name="Nwosu", mobile=NEW_MOBILE
    )
    staff = staff_client(front_desk)
    assert staff.get(_link_url(registered), {"chart": theirs.pk}).status_code == 404
    assert staff.post(_link_url(registered), {"chart": theirs.pk}).status_code == 404
    assert not PatientAccess.objects.filter(patient=theirs).exists()


def test_a_decided_registration_is_linked_nowhere(her_old_chart, registered, front_desk):
    demographics.change_request_decide(
        request=None, change_request=registered, decided_by=front_desk, accept={"*"}
    )
    with pytest.raises(demographics.AlreadyDecided):
        demographics.registration_link_to_chart(
            request=None,
            change_request=registered,
            chart_id=her_old_chart.pk,
            decided_by=front_desk,
        )


def test_only_a_registration_can_be_linked(her_old_chart, clinic, front_desk):
    grant = PatientAccessFactory(patient=PatientFactory(clinic=clinic))
    change = demographics.change_request_create(
        request=None, patient=grant.patient, requested_by=grant.user, proposed={"city": "X"}
    )
    with pytest.raises(demographics.CannotLink):
        demographics.registration_link_to_chart(
            request=None, change_request=change, chart_id=her_old_chart.pk, decided_by=front_desk
        )


def test_the_decision_controls_are_ordinary_form_controls(registered, front_desk):
    page = _page(front_desk, registered)
    decision = page[page.index('<fieldset class="module aligned decide">') :]
    decision = decision[: decision.index("</fieldset>")]
    assert '<textarea id="decline-reason"' in decision
    assert '<label for="decline-reason">' in decision
    assert 'class="submit-row' not in decision  # the admin paints inputs there as buttons


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_linking_while_a_colleague_accepts_decides_the_registration_once(
    clinic, front_desk, clinic_admin
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks; this run uses " + connection.vendor)
    old_chart = PatientFactory(
        clinic=clinic,
        first_name="Amara",
        last_name="Nwosu",
        date_of_birth=AMARA_DOB,
        mobile=NEW_MOBILE,
    )
    new_chart = PatientFactory(
        clinic=clinic,
        first_name="Amara",
        last_name="Nwosu",
        date_of_birth=AMARA_DOB,
        mobile=NEW_MOBILE,
        status=Patient.Status.PENDING,
    )
    account = UserFactory(clinic=clinic, phone=NEW_MOBILE, email="")
    PatientAccessFactory(user=account, patient=new_chart)
    registration = demographics.registration_request_create(patient=new_chart, requested_by=account)
    barrier = threading.Barrier(2)
    outcomes = []

    def act(do):
        try:
            barrier.wait(timeout=10)
            do()
            outcomes.append("done")
        except demographics.AlreadyDecided:
            outcomes.append("already")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    link = partial(
        demographics.registration_link_to_chart,
        request=None,
        change_request=registration,
        chart_id=old_chart.pk,
        decided_by=front_desk,
    )
    accept = partial(
        demographics.change_request_decide,
        request=None,
        change_request=registration,
        decided_by=clinic_admin,
        accept={"*"},
    )
    threads = [threading.Thread(target=act, args=(do,)) for do in (link, accept)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["already", "done"]
    registration.refresh_from_db()
    live = PatientAccess.objects.filter(user=account, revoked_at__isnull=True)
    if registration.status == ChangeRequest.Status.LINKED:
        assert [g.patient_id for g in live] == [old_chart.pk]
    else:
        assert registration.status == ChangeRequest.Status.ACCEPTED
        assert [g.patient_id for g in live] == [new_chart.pk]


def _refusal(registered, chart):
    return selectors.link_refusal(
        registration=registered.patient, account=registered.requested_by, chart=chart
    )


def test_a_chart_with_the_proven_mobile_but_another_person_is_refused(
    registered, front_desk, clinic
):
    """A household's shared mobile: the sibling's chart must not be handed over."""
    sibling = PatientFactory(
        clinic=clinic,
        first_name="Ava",
        last_name="Nwosu",
        date_of_birth=dt.date(1985, 4, 4),
        mobile=NEW_MOBILE,
        email="",
    )
    assert _refusal(registered, sibling) == selectors.NOT_SAME_PERSON
    response = staff_client(front_desk).post(_link_url(registered), {"chart": sibling.pk})
    assert response.status_code in (200, 302)
    assert not PatientAccess.objects.filter(patient=sibling).exists()
    assert ChangeRequest.objects.get(pk=registered.pk).status == ChangeRequest.Status.PENDING


def test_a_proven_mobile_that_another_chart_also_has_links_nothing(
    her_old_chart, registered, clinic, front_desk
):
    PatientFactory(clinic=clinic, first_name="Ava", mobile=NEW_MOBILE, email="")
    assert _refusal(registered, her_old_chart) == selectors.CONTACT_SHARED
    with pytest.raises(demographics.CannotLink):
        demographics.registration_link_to_chart(
            request=None,
            change_request=registered,
            chart_id=her_old_chart.pk,
            decided_by=front_desk,
        )


def test_a_minors_chart_is_not_linked(registered, clinic):
    today = dt.date.today()
    young = PatientFactory(
        clinic=clinic,
        first_name="Amara",
        last_name="Nwosu",
        date_of_birth=today.replace(year=today.year - 15),
        mobile=NEW_MOBILE,
        email="",
    )
    registered.patient.date_of_birth = young.date_of_birth
    registered.patient.save(update_fields=["date_of_birth"])
    assert _refusal(registered, young) == selectors.CHART_OF_A_MINOR


def test_a_chart_someone_else_acts_for_is_not_linked(her_old_chart, registered):
    PatientAccessFactory(patient=her_old_chart, relationship=PatientAccess.Relationship.PARENT)
    assert _refusal(registered, her_old_chart) == selectors.CHART_REPRESENTED
