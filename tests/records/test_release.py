"""When results reach the patient: the clinic's rule per category (at once, after the
clinician's review, after N days), the patient's choice to wait for the review, and the
"a new result is available" notice, sent once, never carrying the result."""

import datetime as dt

import pytest
from django.core import mail

from portal.audit.models import AuditEvent
from portal.notifications.models import Notification
from records import selectors, services
from records.models import DiagnosticReport, ReleaseRule
from records.tasks import send_result_notices
from tests.factories import ObservationFactory, PatientAccessFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chart(clinic):
    return PatientFactory(clinic=clinic, email="olivia@example.com", mobile="")


@pytest.fixture
def ehr_account(clinic):
    from tests.factories import UserFactory

    return UserFactory(clinic=clinic, username="ehr")


def own_grant(chart):
    return PatientAccessFactory(patient=chart)


def rule(clinic, category, mode, days=0):
    return ReleaseRule.objects.create(clinic=clinic, category=category, mode=mode, days=days)


def receive_report(clinic, chart, actor, *, category="lab", identifier="R1", **fields):
    report, _created = services.record_save(
        model=DiagnosticReport,
        clinic=clinic,
        patient=chart,
        actor=actor,
        fields={
            "source_system": "urn:lab",
            "source_value": identifier,
            "code": "24323-8",
            "display": "Metabolic panel",
            "category": category,
            "status": "final",
            "issued": fields.pop("issued", None),
            "date": fields.pop("date", None) or dt.datetime(2030, 1, 14, tzinfo=dt.UTC),
            **fields,
        },
    )
    return report


def shown(chart, when):
    return list(selectors.results_released_to_patient(patient=chart, now=when).reports)


def notices(chart):
    return Notification.objects.filter(template="result_available", recipient=chart.email)


def test_a_category_released_at_once_is_shown_and_announced_on_arrival(
    frozen, clinic, chart, ehr_account, now, django_capture_on_commit_callbacks
):
    rule(clinic, "lab", ReleaseRule.Mode.AT_ONCE)

    with django_capture_on_commit_callbacks(execute=True):
        report = receive_report(clinic, chart, ehr_account)

    assert shown(chart, now) == [report]
    assert notices(chart).count() == 1
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body + mail.outbox[0].subject
    assert "new result" in body
    assert "Metabolic" not in body and chart.last_name not in body


def test_a_result_waiting_for_review_is_hidden_until_the_clinician_reviews_it(
    frozen, clinic, chart, ehr_account, now
):
    rule(clinic, "lab", ReleaseRule.Mode.AFTER_REVIEW)
    report = receive_report(clinic, chart, ehr_account)
    frozen.shift(dt.timedelta(days=30))

    assert shown(chart, now + dt.timedelta(days=30)) == []
    assert not notices(chart).exists()

    assert services.result_mark_reviewed(
        clinic=report.clinic, result=report, reviewed_by="Dr Ada", actor=ehr_account
    )

    assert shown(chart, now + dt.timedelta(days=30)) == [report]
    assert notices(chart).count() == 1
    assert AuditEvent.objects.filter(action="record.reviewed", object_id=str(report.pk)).exists()


def test_with_no_rule_a_result_waits_for_review(frozen, clinic, chart, ehr_account, now):
    receive_report(clinic, chart, ehr_account, category="imaging")

    assert shown(chart, now + dt.timedelta(days=365)) == []


def test_the_clinics_rule_for_every_other_category_applies_when_none_names_it(
    frozen, clinic, chart, ehr_account, now
):
    rule(clinic, "", ReleaseRule.Mode.AT_ONCE)
    rule(clinic, "sp", ReleaseRule.Mode.AFTER_REVIEW)

    blood = receive_report(clinic, chart, ehr_account, category="LAB", identifier="1")
    receive_report(clinic, chart, ehr_account, category="SP", identifier="2")

    assert shown(chart, now) == [blood]


def test_after_n_days_the_result_is_hidden_before_and_shown_after_and_announced_once(
    frozen, clinic, chart, ehr_account, now
):
    rule(clinic, "lab", ReleaseRule.Mode.AFTER_DAYS, days=3)
    issued = now
    report = receive_report(clinic, chart, ehr_account, issued=issued)

    frozen.move_to(issued + dt.timedelta(days=3) - dt.timedelta(seconds=1))
    send_result_notices.delay()
    assert shown(chart, issued + dt.timedelta(days=3) - dt.timedelta(seconds=1)) == []
    assert not notices(chart).exists()

    frozen.move_to(issued + dt.timedelta(days=3))
    send_result_notices.delay()
    send_result_notices.delay()  # a second run (or an overlapping one) announces nothing
    assert shown(chart, issued + dt.timedelta(days=3)) == [report]
    assert notices(chart).count() == 1
    assert notices(chart).get().context == {"patient_id": chart.pk}


def test_a_review_before_the_days_are_up_releases_the_result_sooner(
    frozen, clinic, chart, ehr_account, now
):
    rule(clinic, "lab", ReleaseRule.Mode.AFTER_DAYS, days=7)
    report = receive_report(clinic, chart, ehr_account, issued=now)
    frozen.shift(dt.timedelta(days=1))

    services.result_mark_reviewed(
        clinic=report.clinic, result=report, reviewed_by="Dr Ada", actor=ehr_account
    )

    assert shown(chart, now + dt.timedelta(days=1)) == [report]


def test_the_patient_who_waits_for_review_sees_new_results_only_once_reviewed(
    frozen, clinic, chart, ehr_account, now
):
    rule(clinic, "lab", ReleaseRule.Mode.AT_ONCE)
    earlier = receive_report(clinic, chart, ehr_account, identifier="old")
    frozen.shift(dt.timedelta(hours=1))
    services.record_preference_set(access=own_grant(chart), wait_for_review=True, actor=None)
    frozen.shift(dt.timedelta(hours=1))
    later = receive_report(clinic, chart, ehr_account, identifier="new")
    when = now + dt.timedelta(hours=2)

    # What was shown before the choice stays shown; the new result waits.
    assert shown(chart, when) == [earlier]
    assert notices(chart).count() == 1

    services.result_mark_reviewed(
        clinic=later.clinic, result=later, reviewed_by="Dr Ada", actor=ehr_account
    )

    assert set(shown(chart, when)) == {earlier, later}
    assert notices(chart).count() == 2


def test_an_observation_in_a_report_is_shown_with_its_report(
    frozen, clinic, chart, ehr_account, now
):
    rule(clinic, "lab", ReleaseRule.Mode.AFTER_REVIEW)
    rule(clinic, "vital-signs", ReleaseRule.Mode.AT_ONCE)
    report = receive_report(clinic, chart, ehr_account)
    glucose = ObservationFactory(patient=chart, category="vital-signs", release_at=now)
    pulse = ObservationFactory(patient=chart, category="vital-signs", release_at=now)
    services.report_results_link(report=report, observation_ids=[glucose.pk])

    def observations():
        return set(selectors.results_released_to_patient(patient=chart, now=now).observations)

    assert observations() == {pulse}
    services.result_mark_reviewed(
        clinic=report.clinic, result=report, reviewed_by="Dr Ada", actor=ehr_account
    )
    assert observations() == {pulse, glucose}


def test_results_in_error_or_preliminary_are_never_shown(frozen, clinic, chart, ehr_account, now):
    rule(clinic, "", ReleaseRule.Mode.AT_ONCE)
    receive_report(clinic, chart, ehr_account, identifier="1", status="preliminary")
    receive_report(clinic, chart, ehr_account, identifier="2", status="entered-in-error")

    assert shown(chart, now) == []
    assert not notices(chart).exists()


def test_results_of_another_chart_or_clinic_are_not_shown(frozen, clinic, other_clinic, chart, now):
    ObservationFactory(patient=PatientFactory(clinic=clinic), release_at=now)
    ObservationFactory(patient=PatientFactory(clinic=other_clinic), release_at=now)

    assert not selectors.results_released_to_patient(patient=chart, now=now).observations.exists()


def test_a_result_issued_long_before_it_arrived_is_shown_but_not_announced(
    frozen, clinic, chart, ehr_account, now
):
    rule(clinic, "lab", ReleaseRule.Mode.AT_ONCE)
    report = receive_report(clinic, chart, ehr_account, issued=now - dt.timedelta(days=400))

    assert shown(chart, now) == [report]
    assert not notices(chart).exists()
    report.refresh_from_db()
    assert report.notified_at == now


def test_a_result_once_shown_stays_shown_when_the_rules_change(
    frozen, clinic, chart, ehr_account, now
):
    at_once = rule(clinic, "lab", ReleaseRule.Mode.AT_ONCE)
    report = receive_report(clinic, chart, ehr_account, identifier="seen")
    at_once.mode = ReleaseRule.Mode.AFTER_REVIEW
    at_once.save()
    frozen.shift(dt.timedelta(minutes=1))
    waiting = receive_report(clinic, chart, ehr_account, identifier="waits")

    assert services.release_rules_apply(clinic=clinic) == 0
    assert shown(chart, now + dt.timedelta(minutes=1)) == [report]

    at_once.mode = ReleaseRule.Mode.AT_ONCE
    at_once.save()
    assert services.release_rules_apply(clinic=clinic) == 1
    assert set(shown(chart, now + dt.timedelta(minutes=1))) == {report, waiting}


def test_sending_the_same_identifier_again_updates_the_one_row(
    frozen, clinic, chart, ehr_account, now
):
    rule(clinic, "lab", ReleaseRule.Mode.AT_ONCE)
    first = receive_report(clinic, chart, ehr_account, conclusion="pending")
    again = receive_report(clinic, chart, ehr_account, conclusion="normal")

    assert again.pk == first.pk
    assert DiagnosticReport.objects.count() == 1
    assert notices(chart).count() == 1
    assert list(
        AuditEvent.objects.filter(object_id=str(first.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["record.received", "record.updated"]


def test_a_row_never_moves_to_another_chart(frozen, clinic, chart, ehr_account):
    receive_report(clinic, chart, ehr_account)

    with pytest.raises(services.NotSaved):
        receive_report(clinic, PatientFactory(clinic=clinic), ehr_account)


def test_the_same_identifier_at_another_clinic_is_another_row(
    frozen, clinic, other_clinic, chart, ehr_account
):
    receive_report(clinic, chart, ehr_account)
    receive_report(other_clinic, PatientFactory(clinic=other_clinic), ehr_account)

    assert DiagnosticReport.objects.count() == 2


def test_no_notice_for_a_patient_whose_portal_access_was_revoked(
    frozen, clinic, chart, ehr_account, now
):
    chart.portal_revoked_at = now
    chart.save()
    rule(clinic, "lab", ReleaseRule.Mode.AT_ONCE)

    receive_report(clinic, chart, ehr_account)

    assert not notices(chart).exists()
