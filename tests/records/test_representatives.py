"""Who sees the health record through a grant (``PatientAccess.health_record_allowed``):
the patient; a parent or guardian while the child is younger than the clinic's age for
it; anyone staff granted the health record to. Everyone else gets a 404 on every page
and file. The clock is frozen (tests/clock.py: 15 January 2030)."""

import datetime as dt

import pytest
from django.utils import timezone

from patients.models import PatientAccess
from portal.audit.models import AuditEvent
from records import selectors, services
from records.models import RecordPreference
from tests.clients import portal_client, staff_client
from tests.factories import (
    AllergyFactory,
    ImmunizationFactory,
    MedicationFactory,
    ObservationFactory,
    PatientAccessFactory,
    PatientFactory,
    StaffFactory,
    UserFactory,
    portal_settings_of,
)
from tests.invitations.flows import admin_url
from tests.uploads import stored_document

pytestmark = pytest.mark.django_db

BASE = "/portal/health-record/"
PAGES = [
    BASE + "results/",
    BASE + "medications/",
    BASE + "allergies/",
    BASE + "immunizations/",
    BASE + "documents/",
]
MARKERS = ("Ferritin", "Glimmerzine", "Moonpetal pollen", "Quasarvax", "Nimbus letter")
# Nora turns 12 tomorrow (16 January 2030); a parent's full access ends at 16.
BIRTHDAY = dt.date(2018, 1, 16)


@pytest.fixture
def policy(clinic):
    return portal_settings_of(clinic, representative_age_threshold=16, parent_health_record_age=12)


@pytest.fixture
def nora(clinic, frozen, policy):
    """A child of 11 with a row of every kind in her record."""
    child = PatientFactory(clinic=clinic, first_name="Nora", date_of_birth=BIRTHDAY)
    ObservationFactory(patient=child, display="Ferritin")
    MedicationFactory(patient=child, display="Glimmerzine 20 mg")
    AllergyFactory(patient=child, display="Moonpetal pollen")
    ImmunizationFactory(patient=child, display="Quasarvax booster")
    child.document = stored_document(child, title="Nimbus letter")
    return child


def representative(patient, relationship, **scopes):
    user = UserFactory(clinic=patient.clinic, username=f"{relationship}-of-{patient.pk}")
    PatientAccessFactory(user=user, patient=patient, relationship=relationship, **scopes)
    return user


def answers(user, patient) -> dict[str, int]:
    client = portal_client(user, patient, raise_request_exception=False)
    urls = [*PAGES, f"{BASE}documents/{patient.document.pk}/"]
    return {url: client.get(url).status_code for url in urls}


def everything_shown(user, patient) -> bool:
    client = portal_client(user, patient)
    text = "".join(client.get(url).content.decode() for url in PAGES)
    return all(marker in text for marker in MARKERS)


def refused_everywhere(user, patient) -> bool:
    client = portal_client(user, patient, raise_request_exception=False)
    urls = [*PAGES, BASE + "results/preference/", f"{BASE}documents/{patient.document.pk}/"]
    before = AuditEvent.objects.filter(action__startswith="record.").count()
    refused = all(
        client.get(url).status_code == 404 and client.post(url, {}).status_code == 404
        for url in urls
    )
    after = AuditEvent.objects.filter(action__startswith="record.").count()
    return refused and before == after


# --- Who sees it ---------------------------------------------------------------------------


def test_a_carer_granted_the_health_record_opens_every_page_and_file(nora):
    carer = representative(nora, "carer", can_health_record=True)
    assert set(answers(carer, nora).values()) == {200}
    assert everything_shown(carer, nora)
    downloaded = portal_client(carer, nora).get(f"{BASE}documents/{nora.document.pk}/")
    assert b"".join(downloaded.streaming_content).startswith(b"%PDF-")
    assert AuditEvent.objects.filter(action="record.document_downloaded", actor=carer).exists()


@pytest.mark.parametrize("relationship", ["carer", "spouse", "other"])
def test_anyone_but_a_parent_needs_the_health_record_granted(nora, relationship):
    user = representative(
        nora, relationship, can_appointments=True, can_messages=True, can_demographics=True
    )
    assert refused_everywhere(user, nora)


@pytest.mark.parametrize("relationship", ["parent", "guardian"])
def test_a_parent_of_a_child_under_the_clinics_age_sees_it_without_a_grant(nora, relationship):
    parent = representative(nora, relationship)
    assert set(answers(parent, nora).values()) == {200}
    assert everything_shown(parent, nora)


def test_the_parents_view_ends_on_the_birthday_the_clinic_chose(nora, frozen):
    parent = representative(nora, "parent")
    home = portal_client(parent, nora).get("/portal/").content.decode()
    assert f'href="{BASE}results/"' in home

    frozen.move_to(dt.datetime(2030, 1, 16, 5, 1, tzinfo=dt.UTC))  # 00:01 in Toronto
    assert refused_everywhere(parent, nora)
    home = portal_client(parent, nora).get("/portal/")
    assert home.status_code == 200  # the rest of the grant still works
    assert f'href="{BASE}results/"' not in home.content.decode()


def test_the_day_before_the_birthday_the_parent_still_sees_it(nora, frozen):
    parent = representative(nora, "parent")
    frozen.move_to(dt.datetime(2030, 1, 16, 4, 59, tzinfo=dt.UTC))  # 23:59 in Toronto
    assert set(answers(parent, nora).values()) == {200}


def test_a_parent_of_an_older_child_needs_the_health_record_granted(nora, frozen):
    frozen.move_to(dt.datetime(2031, 3, 1, 15, tzinfo=dt.UTC))  # Nora is 13
    without = representative(nora, "parent")
    assert refused_everywhere(without, nora)
    granted = representative(nora, "guardian", can_health_record=True)
    assert set(answers(granted, nora).values()) == {200}


def test_an_empty_age_follows_the_age_at_which_a_parents_access_ends(clinic, nora, frozen):
    portal_settings_of(clinic, parent_health_record_age=None, representative_age_threshold=16)
    parent = representative(nora, "parent")
    frozen.move_to(dt.datetime(2033, 6, 1, 15, tzinfo=dt.UTC))  # Nora is 15
    assert set(answers(parent, nora).values()) == {200}
    # At 16 the parent's grant ends (patients.selectors.usable_grants); once the grown-up
    # patient confirms it, the health record still needs staff to grant it.
    frozen.move_to(dt.datetime(2034, 1, 16, 15, tzinfo=dt.UTC))
    PatientAccess.objects.filter(user=parent).update(adult_access_confirmed_at=timezone.now())
    assert refused_everywhere(parent, nora)


def test_the_clinics_age_never_outlasts_a_parents_full_access(clinic):
    policy = portal_settings_of(
        clinic, representative_age_threshold=14, parent_health_record_age=18
    )
    assert policy.health_record_age_for_parents() == 14
    policy.parent_health_record_age = 0
    assert policy.health_record_age_for_parents() == 0


def test_a_representative_of_someone_else_sees_nothing_of_this_record(clinic, nora):
    other = PatientFactory(clinic=clinic)
    carer = representative(other, "carer", can_health_record=True)
    client = portal_client(carer, other, raise_request_exception=False)
    assert client.get(f"{BASE}documents/{nora.document.pk}/").status_code == 404
    assert "Ferritin" not in client.get(BASE + "results/").content.decode()


def test_the_health_record_link_shows_only_with_the_scope(nora):
    granted = representative(nora, "carer", can_health_record=True)
    refused = representative(nora, "spouse")
    for user, shown in ((granted, True), (refused, False)):
        home = portal_client(user, nora).get("/portal/").content.decode()
        assert (f'href="{BASE}results/"' in home) is shown, user


# --- The wait-for-review choice -----------------------------------------------------------


def test_a_parent_of_a_minor_may_choose_to_wait_for_review(nora):
    parent = representative(nora, "parent")
    client = portal_client(parent, nora)
    assert 'name="wait_for_review"' in client.get(BASE + "results/").content.decode()
    assert client.post(BASE + "results/preference/", {"wait_for_review": "on"}).status_code == 302
    assert RecordPreference.objects.get(patient=nora).wait_for_review


def test_a_carer_reads_the_results_as_the_patient_chose_but_cannot_change_that(nora):
    carer = representative(nora, "carer", can_health_record=True)
    client = portal_client(carer, nora, raise_request_exception=False)
    assert 'name="wait_for_review"' not in client.get(BASE + "results/").content.decode()
    assert client.post(BASE + "results/preference/", {"wait_for_review": "on"}).status_code == 404
    assert not RecordPreference.objects.filter(patient=nora).exists()
    grant = PatientAccess.objects.get(user=carer)
    with pytest.raises(services.PreferenceNotAllowed):
        services.record_preference_set(access=grant, wait_for_review=True, actor=carer)


def test_a_parent_past_the_clinics_age_may_not_choose_for_the_child(nora, policy, frozen):
    parent = representative(nora, "parent", can_health_record=True)
    grant = PatientAccess.objects.get(user=parent)
    assert selectors.record_preference_settable(access=grant, policy=policy)
    frozen.move_to(dt.datetime(2034, 1, 16, 15, tzinfo=dt.UTC))  # 16: no longer a minor
    assert not selectors.record_preference_settable(access=grant, policy=policy)


# --- Staff grant it -------------------------------------------------------------------------


def scopes_url(grant):
    return admin_url(grant.patient, f"portal/access/{grant.pk}/")


def test_staff_grant_the_health_record_and_the_carer_then_sees_it(nora, front_desk):
    carer = representative(nora, "carer", can_messages=False)
    grant = PatientAccess.objects.get(user=carer)
    assert refused_everywhere(carer, nora)  # and the grant is now in the shared cache
    staff = staff_client(front_desk)
    chart_page = staff.get(admin_url(nora)).content.decode()
    assert scopes_url(grant) in chart_page
    form = staff.get(scopes_url(grant))
    assert form.status_code == 200 and 'name="can_health_record"' in form.content.decode()

    answer = staff.post(scopes_url(grant), {"can_appointments": "on", "can_health_record": "on"})

    assert answer.status_code == 302
    grant.refresh_from_db()
    assert (grant.can_appointments, grant.can_messages, grant.can_demographics) == (
        True,
        False,
        False,
    )
    assert grant.can_health_record
    event = AuditEvent.objects.get(action="access.scopes_changed")
    assert event.details["after"]["health_record"] is True
    assert event.details["before"]["health_record"] is False
    assert set(answers(carer, nora).values()) == {200}


def test_staff_of_another_clinic_reach_no_grant_here(nora, other_clinic):
    grant = PatientAccess.objects.get(user=representative(nora, "carer"))
    outsider = StaffFactory(clinic=other_clinic, username="elsewhere")
    client = staff_client(outsider, host=nora.clinic.slug, raise_request_exception=False)
    assert client.post(scopes_url(grant), {"can_health_record": "on"}).status_code in (
        302,
        403,
        404,
    )
    grant.refresh_from_db()
    assert not grant.can_health_record


def test_the_patients_own_grant_has_no_scopes_page(nora, front_desk):
    own = PatientAccessFactory(patient=nora)
    client = staff_client(front_desk, raise_request_exception=False)
    assert client.get(scopes_url(own)).status_code == 404


# --- "A new result is available" ------------------------------------------------------------


def result_notices_to(clinic) -> set[str]:
    from portal.notifications.models import Notification

    return set(
        Notification.objects.filter(clinic=clinic, template="result_available").values_list(
            "recipient", flat=True
        )
    )


def test_the_result_notice_reaches_representatives_who_may_see_the_record(
    clinic, nora, django_capture_on_commit_callbacks
):
    from django.core import mail

    from tests.factories import DiagnosticReportFactory

    nora.email = "nora@example.com"
    nora.save(update_fields=["email"])
    parent = representative(nora, "parent")
    carer = representative(nora, "carer", can_health_record=True)
    spouse = representative(nora, "spouse", can_appointments=True, can_messages=True)
    revoked = representative(nora, "guardian", can_health_record=True)
    PatientAccess.objects.filter(user=revoked).update(revoked_at=timezone.now())
    DiagnosticReportFactory(patient=nora, display="Secret panel", issued=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        assert services.result_notices_send(clinic=clinic) == 1

    assert result_notices_to(clinic) == {nora.email, parent.email, carer.email}
    assert spouse.email not in result_notices_to(clinic)
    assert all(
        "Secret panel" not in message.body + message.subject and "Nora" not in message.body
        for message in mail.outbox
    )
    assert {address for message in mail.outbox for address in message.to} == {
        nora.email,
        parent.email,
        carer.email,
    }


def test_the_result_notice_skips_a_parent_once_the_child_is_past_the_clinics_age(
    clinic, nora, frozen
):
    from tests.factories import DiagnosticReportFactory

    frozen.move_to(dt.datetime(2031, 3, 1, 15, tzinfo=dt.UTC))  # Nora is 13
    parent = representative(nora, "parent")
    granted = representative(nora, "guardian", can_health_record=True)
    DiagnosticReportFactory(patient=nora, issued=timezone.now())

    services.result_notices_send(clinic=clinic)

    assert parent.email not in result_notices_to(clinic)
    assert granted.email in result_notices_to(clinic)


# --- Refill requests -------------------------------------------------------------------------


def test_a_parent_of_a_young_child_asks_for_the_childs_refill(nora):
    from records.models import Medication, RefillRequest

    parent = representative(nora, "parent")
    medication = Medication.objects.get(patient=nora)
    client = portal_client(parent, nora)
    url = f"{BASE}medications/{medication.pk}/refill/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"pharmacy_note": "Main Street Pharmacy"})
    assert response.status_code == 302
    made = RefillRequest.objects.get(medication=medication)
    assert (made.patient, made.requested_by) == (nora, parent)


def test_a_carer_without_the_health_record_cannot_ask_for_a_refill(nora):
    from records.models import Medication, RefillRequest

    carer = representative(nora, "carer", can_messages=True)
    medication = Medication.objects.get(patient=nora)
    client = portal_client(carer, nora, raise_request_exception=False)
    url = f"{BASE}medications/{medication.pk}/refill/"
    assert client.get(url).status_code == 404
    assert client.post(url, {"pharmacy_note": "Main Street Pharmacy"}).status_code == 404
    assert not RefillRequest.objects.exists()
