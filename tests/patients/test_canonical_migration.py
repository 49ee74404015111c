"""The data migrations that rewrite stored emails and ID numbers canonically (and again
when the email rules became stricter): they change what they can, and report (never
merge) rows that would collide or that the rules refuse."""

import datetime as dt
import importlib

import pytest
from django.apps import apps

from clinics.models import User
from invitations.models import Invitation
from patients.models import Patient, PatientIdentifier
from tests.clock import NOW
from tests.factories import PatientFactory, PatientIdentifierFactory, UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("patients.migrations.0008_canonicalise_identifiers")


def _store_raw(model, pk, **values):
    """Write a value as an older release stored it (a bulk update skips the field's
    canonicalising pre_save)."""
    model.objects.filter(pk=pk).update(**values)


def test_it_rewrites_emails_and_id_numbers_canonically(clinic):
    user = UserFactory(clinic=clinic)
    chart = PatientFactory(clinic=clinic)
    identifier = PatientIdentifierFactory(patient=chart)
    _store_raw(User, user.pk, email="Olivia.Martin@Example.COM")
    _store_raw(Patient, chart.pk, email="ＯＬＩＶＩＡ@example.com")
    _store_raw(PatientIdentifier, identifier.pk, number="１２３４ ５６７-890")

    migration.forwards(apps, None)

    assert User.objects.get(pk=user.pk).email == "olivia.martin@example.com"
    assert Patient.objects.get(pk=chart.pk).email == "olivia@example.com"
    assert PatientIdentifier.objects.get(pk=identifier.pk).number == "1234567890"


def test_it_reports_accounts_that_collide_instead_of_merging_them(clinic, capsys):
    first = UserFactory(clinic=clinic, email="olivia@example.com")
    second = UserFactory(clinic=clinic)
    _store_raw(User, second.pk, email="OLIVIA@example.com")

    migration.forwards(apps, None)

    assert User.objects.get(pk=first.pk).email == "olivia@example.com"
    assert User.objects.get(pk=second.pk).email == "OLIVIA@example.com"  # left for staff
    report = capsys.readouterr().out
    assert f"user email ids={first.pk}, {second.pk}: the same once canonical" in report
    assert "olivia" not in report.lower()  # ids only, no personal data


def test_it_reports_look_alikes_it_cannot_canonicalise(clinic, capsys):
    user = UserFactory(clinic=clinic)
    _store_raw(User, user.pk, email="olıvia@example.com")  # dotless ı

    migration.forwards(apps, None)

    assert User.objects.get(pk=user.pk).email == "olıvia@example.com"
    assert f"user email id={user.pk}: cannot be canonicalised" in capsys.readouterr().out


def test_charts_sharing_an_email_are_not_a_collision(clinic, capsys):
    # A parent's email on two children's charts is the clinic's record, not an identity.
    a, b = PatientFactory(clinic=clinic), PatientFactory(clinic=clinic)
    _store_raw(Patient, a.pk, email="Parent@example.com")
    _store_raw(Patient, b.pk, email="parent@EXAMPLE.com")

    migration.forwards(apps, None)

    assert {p.email for p in Patient.objects.filter(pk__in=[a.pk, b.pk])} == {"parent@example.com"}
    assert capsys.readouterr().out == ""


recanonicalise = importlib.import_module("patients.migrations.0009_recanonicalise_emails")
recanonicalise_invitations = importlib.import_module(
    "invitations.migrations.0003_recanonicalise_email_destinations"
)


def test_the_stricter_email_rules_drop_a_stored_trailing_dot(clinic, capsys):
    # Typed as olivia@example.com。 before a trailing ideographic full stop was a dot.
    user = UserFactory(clinic=clinic)
    chart = PatientFactory(clinic=clinic)
    _store_raw(User, user.pk, email="olivia@example.com.")
    _store_raw(Patient, chart.pk, email="olivia@example.com.")

    recanonicalise.forwards(apps, None)

    assert User.objects.get(pk=user.pk).email == "olivia@example.com"
    assert Patient.objects.get(pk=chart.pk).email == "olivia@example.com"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "stored",
    [
        "bomb(1)@example.com",  # an RFC 5322 comment before the @
        "a,b@example.com",
        "olivia@xn--gmail-bgd.com",  # gmai\u0307l.com: a combining dot on an ASCII i
    ],
)
def test_the_stricter_email_rules_report_what_they_now_refuse(clinic, capsys, stored):
    user = UserFactory(clinic=clinic)
    _store_raw(User, user.pk, email=stored)

    recanonicalise.forwards(apps, None)

    assert User.objects.get(pk=user.pk).email == stored  # left for staff
    assert f"user email id={user.pk}: cannot be canonicalised" in capsys.readouterr().out


def test_the_stricter_email_rules_report_accounts_that_now_collide(clinic, capsys):
    first = UserFactory(clinic=clinic, email="olivia@example.com")
    second = UserFactory(clinic=clinic)
    _store_raw(User, second.pk, email="olivia@example.com.")

    recanonicalise.forwards(apps, None)

    assert User.objects.get(pk=second.pk).email == "olivia@example.com."
    report = capsys.readouterr().out
    assert f"user email ids={first.pk}, {second.pk}: the same once canonical" in report


def test_the_stricter_email_rules_rewrite_invitation_destinations(clinic, capsys):
    chart = PatientFactory(clinic=clinic)
    kept, refused = (
        Invitation.objects.create(
            clinic=clinic,
            patient=chart,
            channel="email",
            destination=destination,
            expires_at=NOW + dt.timedelta(days=7),
        )
        for destination in ("olivia@example.com.", "bomb(1)@example.com")
    )

    recanonicalise_invitations.forwards(apps, None)

    assert Invitation.objects.get(pk=kept.pk).destination == "olivia@example.com"
    assert Invitation.objects.get(pk=refused.pk).destination == "bomb(1)@example.com"
    assert f"invitation id={refused.pk}: cannot be canonicalised" in capsys.readouterr().out
