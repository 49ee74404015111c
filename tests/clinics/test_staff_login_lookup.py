"""How the password back-end finds a staff account from what was typed: the exact
username, the canonical email, or the one ASCII username differing only in case —
never through the database's own case folding (PostgreSQL's ``UPPER('ſ')`` is ``'S'``)."""

import pytest
from django.test import RequestFactory

from clinics.backends import ClinicBackend
from tests.factories import TEST_PASSWORD, StaffFactory

pytestmark = pytest.mark.django_db


def _authenticate(clinic, username, password=TEST_PASSWORD):
    request = RequestFactory().post("/admin/login/")
    request.clinic = clinic
    return ClinicBackend().authenticate(request, username=username, password=password)


def test_the_exact_username_and_its_case_variants_sign_in(clinic):
    staff = StaffFactory(clinic=clinic, username="frontdesk", password=TEST_PASSWORD)
    assert _authenticate(clinic, "frontdesk") == staff
    assert _authenticate(clinic, "FrontDesk") == staff
    assert _authenticate(clinic, staff.email.upper()) == staff


def test_a_look_alike_username_reaches_no_account(clinic):
    StaffFactory(clinic=clinic, username="staff", password=TEST_PASSWORD)
    assert _authenticate(clinic, "ſtaff") is None  # long s (U+017F)
    assert _authenticate(clinic, "ſTAFF") is None


def test_a_non_ascii_username_is_matched_only_exactly(clinic):
    staff = StaffFactory(clinic=clinic, username="ſtaff", password=TEST_PASSWORD)
    assert _authenticate(clinic, "ſtaff") == staff
    assert _authenticate(clinic, "staff") is None
    assert _authenticate(clinic, "STAFF") is None


def test_two_usernames_differing_only_in_case_need_the_exact_one(clinic):
    lower = StaffFactory(clinic=clinic, username="sam", password=TEST_PASSWORD)
    upper = StaffFactory(
        clinic=clinic, username="Sam", email="sam.two@example.com", password=TEST_PASSWORD
    )
    assert _authenticate(clinic, "sam") == lower
    assert _authenticate(clinic, "Sam") == upper
    assert _authenticate(clinic, "SAM") is None
