"""The data migration that rewrites stored emails and ID numbers canonically: it
changes what it can, and reports (never merges) rows that would collide."""

import importlib

import pytest
from django.apps import apps

from clinics.models import User
from patients.models import Patient, PatientIdentifier
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
