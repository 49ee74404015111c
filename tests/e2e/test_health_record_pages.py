"""The health record's medications, allergies, immunizations and documents in Chromium:
axe-core finds no serious or critical problem at 1280 px and 360 px (and no sideways
scrolling on a phone), and a document's link downloads the PDF as a file."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from records.models import Document, Medication
from tests.e2e.test_accessibility import _clinic, _signed_in, audit, axe_js, axe_page  # noqa: F401
from tests.factories import (
    AllergyFactory,
    ImmunizationFactory,
    MedicationFactory,
    PatientAccessFactory,
    PatientFactory,
)
from tests.uploads import stored_document

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _fill(patient):
    now = timezone.now()
    MedicationFactory(
        patient=patient,
        display="Metformin 500 mg extended-release tablet",
        dosage="Take 1 tablet by mouth twice a day with breakfast and the evening meal",
        authored_on=now - dt.timedelta(days=40),
        prescriber="Dr Amara Osei",
    )
    MedicationFactory(
        patient=patient,
        kind=Medication.Kind.STATEMENT,
        display="Vitamin D3 1000 IU",
        status="stopped",
        dosage="1 capsule a day",
        effective_start=now - dt.timedelta(days=400),
        effective_end=now - dt.timedelta(days=30),
        date=now - dt.timedelta(days=30),
    )
    AllergyFactory(patient=patient, display="Penicillin", reactions="Hives and swollen lips")
    AllergyFactory(patient=patient, display="Latex", criticality="low", clinical_status="resolved")
    ImmunizationFactory(patient=patient, display="Influenza vaccine 2031–2032")
    ImmunizationFactory(patient=patient, display="Tetanus, diphtheria booster", status="not-done")
    stored_document(
        patient,
        title="Visit summary: follow-up of diabetes",
        kind=Document.Kind.VISIT_SUMMARY,
    )
    stored_document(
        patient, title="Letter to Dr Tremblay", kind=Document.Kind.LETTER, type_display="Referral"
    )


def test_the_health_record_pages_pass_axe(axe_page, audit, clinic_url, frozen):  # noqa: F811
    page = axe_page
    clinic = _clinic(accent_colour="#6a1b9a")
    grant = PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Olivia", last_name="Martin")
    )
    _signed_in(page, clinic_url, grant.user, grant.patient)

    page.goto(clinic_url("demo", "/portal/health-record/medications/"))
    audit("records-medications-empty")
    _fill(grant.patient)
    for section in ("medications", "allergies", "immunizations", "documents"):
        page.goto(clinic_url("demo", f"/portal/health-record/{section}/"))
        page.get_by_role("heading", level=1).wait_for()
        audit(f"records-{section}", shoot=True)

    # The refill request's form, then the medication waiting for the clinic's answer.
    page.goto(clinic_url("demo", "/portal/health-record/medications/"))
    page.get_by_role("link", name=re.compile(r"^Request a refill")).click()
    page.get_by_label("Note for the pharmacy").wait_for()
    audit("records-refill-form", shoot=True)
    page.get_by_label("Note for the pharmacy").fill("Main Street Pharmacy, please")
    page.get_by_role("button", name="Send the refill request").click()
    page.get_by_text("Refill requested on").first.wait_for()
    audit("records-refill-requested", shoot=True)

    page.goto(clinic_url("demo", "/portal/health-record/documents/"))
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(r"^Download Letter to Dr Tremblay \(PDF")).click()
    assert download.value.suggested_filename == "letter-to-dr-tremblay.pdf"
    audit.assert_clean()
