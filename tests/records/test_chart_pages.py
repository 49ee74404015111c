"""The patient's health record pages: medications, allergies, immunizations and documents
(with their download). A representative whose grant lacks the health record gets 404s on
every page and file (who has it: tests/records/test_representatives.py); every read and
download is audited; a fixed number of queries however long the chart."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import PatientAccess
from portal.audit.models import AuditEvent
from records import page_cache
from records.models import AllergyIntolerance, Document, Immunization, Medication, RefillRequest
from tests.clients import portal_client
from tests.factories import (
    AllergyFactory,
    DocumentFactory,
    ImmunizationFactory,
    MedicationFactory,
    PatientAccessFactory,
    PatientFactory,
)
from tests.uploads import PDF_BYTES, stored_document

pytestmark = pytest.mark.django_db

BASE = "/portal/health-record/"
PAGES = {
    "medications": BASE + "medications/",
    "allergies": BASE + "allergies/",
    "immunizations": BASE + "immunizations/",
    "documents": BASE + "documents/",
}


def day(month, date):
    return dt.datetime(2031, month, date, 15, tzinfo=dt.UTC)


@pytest.fixture
def own(clinic):
    """Mara's account with a self grant to her chart."""
    return PatientAccessFactory(
        patient=PatientFactory(clinic=clinic, first_name="Mara", last_name="Okafor"),
        user__username="mara",
    )


@pytest.fixture
def client(own):
    return portal_client(own.user, own.patient)


def text_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def download_body(response) -> bytes:
    return b"".join(response.streaming_content)


# --- Medications ------------------------------------------------------------------------


def test_medications_show_current_ones_first_with_dosage_and_dates(client, own):
    chart = own.patient
    MedicationFactory(
        patient=chart,
        display="Amoxicillin 500 mg",
        status="completed",
        dosage="1 capsule three times a day for 7 days",
        date=day(3, 1),
        authored_on=day(3, 1),
    )
    MedicationFactory(
        patient=chart,
        display="Metformin 500 mg tablet",
        status="active",
        dosage="1 tablet twice a day",
        date=day(1, 10),
        authored_on=day(1, 10),
        prescriber="Dr Osei",
    )
    MedicationFactory(
        patient=chart,
        kind=Medication.Kind.STATEMENT,
        display="Vitamin D 1000 IU",
        status="stopped",
        dosage="",
        date=day(2, 1),
        effective_start=day(1, 1),
        effective_end=day(2, 1),
    )
    MedicationFactory(patient=chart, display="Sent in error", status="entered-in-error")
    page = text_of(client.get(PAGES["medications"]))

    current, past = page.index("Current medications"), page.index("Past medications")
    metformin = page.index("Metformin 500 mg tablet")
    amoxicillin, vitamin = page.index("Amoxicillin 500 mg"), page.index("Vitamin D 1000 IU")
    assert current < metformin < past < amoxicillin < vitamin  # each group newest first
    assert "1 tablet twice a day" in page and "three times a day" in page
    assert "10 January 2031" in page and "Dr Osei" in page
    assert "Taking" in page and "Finished" in page and "Stopped" in page
    assert "1 January 2031" in page and "1 February 2031" in page  # taken from, until
    assert "Sent in error" not in page


def test_a_current_medication_keeps_its_id_for_the_refill_request_to_come(client, own):
    medication = MedicationFactory(patient=own.patient, status="active")
    assert f'id="medication-{medication.pk}"' in text_of(client.get(PAGES["medications"]))


# --- Allergies and immunizations -----------------------------------------------------------


def test_allergies_say_the_risk_reactions_and_status_in_plain_words(client, own):
    AllergyFactory(patient=own.patient, display="Penicillin", criticality="high", reactions="Hives")
    AllergyFactory(
        patient=own.patient,
        display="Latex",
        criticality="low",
        reactions="",
        clinical_status="resolved",
        verification_status="unconfirmed",
    )
    AllergyFactory(patient=own.patient, display="Peanuts", verification_status="refuted")
    page = text_of(client.get(PAGES["allergies"]))
    assert "Penicillin" in page and "High risk: a reaction could be serious" in page
    assert "Hives" in page
    assert "Latex" in page and "Resolved" in page and "not confirmed" in page
    assert "Low risk" in page
    assert "Peanuts" not in page  # refuted: not an allergy


def test_immunizations_show_the_vaccine_date_and_status(client, own):
    ImmunizationFactory(patient=own.patient, display="Tetanus booster", date=day(4, 2))
    ImmunizationFactory(
        patient=own.patient, display="Shingles vaccine", status="not-done", date=day(5, 6)
    )
    ImmunizationFactory(patient=own.patient, display="Typed twice", status="entered-in-error")
    page = text_of(client.get(PAGES["immunizations"]))
    assert page.index("Shingles vaccine") < page.index("Tetanus booster")
    assert "2 April 2031" in page and "Given" in page and "Not given" in page
    assert "Typed twice" not in page


@pytest.mark.parametrize(
    ("section", "empty"),
    [
        ("medications", "has not shared any medications with you yet"),
        ("allergies", "has not shared any allergies with you"),
        ("immunizations", "has not shared any immunizations with you yet"),
        ("documents", "Visit summaries and letters it sends to the portal"),
    ],
)
def test_an_empty_section_says_what_the_clinic_shares(client, section, empty):
    assert empty in text_of(client.get(PAGES[section]))


# --- Documents ------------------------------------------------------------------------------


def test_documents_list_title_type_and_date_with_a_download_link(client, own):
    document = stored_document(
        own.patient,
        title="Visit summary, March 3",
        kind=Document.Kind.VISIT_SUMMARY,
        date=day(3, 3),
    )
    stored_document(
        own.patient,
        title="Letter to Dr Osei",
        kind=Document.Kind.LETTER,
        type_display="Referral letter",
        date=day(3, 9),
    )
    DocumentFactory(patient=own.patient, title="Replaced summary", status="superseded")
    page = text_of(client.get(PAGES["documents"]))
    assert page.index("Letter to Dr Osei") < page.index("Visit summary, March 3")
    assert "Referral letter" in page and "Visit summary</dd>" in page
    assert "3 March 2031" in page
    assert f'href="{BASE}documents/{document.pk}/"' in page
    assert "Replaced summary" not in page


def test_a_document_downloads_as_an_attachment_never_cached_and_audited(client, own):
    document = stored_document(own.patient, title="Visit summary, March 3")
    response = client.get(f"{BASE}documents/{document.pk}/")
    assert response.status_code == 200
    assert download_body(response) == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="visit-summary-march-3.pdf"'
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= cache_control
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    event = AuditEvent.objects.get(action="record.document_downloaded")
    assert (event.actor, event.acting_for, event.object_id) == (
        own.user,
        own.patient,
        str(document.pk),
    )


def test_a_document_of_another_chart_or_clinic_is_a_404(client, clinic, other_clinic):
    neighbour = stored_document(PatientFactory(clinic=clinic))
    outsider = stored_document(PatientFactory(clinic=other_clinic))
    for document in (neighbour, outsider):
        assert client.get(f"{BASE}documents/{document.pk}/").status_code == 404
    assert client.get(f"{BASE}documents/987654321/").status_code == 404
    assert not AuditEvent.objects.filter(action="record.document_downloaded").exists()


def test_a_withdrawn_document_or_a_lost_file_is_a_404(client, own):
    withdrawn = stored_document(own.patient, status="entered-in-error")
    lost = DocumentFactory(patient=own.patient)  # its file was never written
    for document in (withdrawn, lost):
        assert client.get(f"{BASE}documents/{document.pk}/").status_code == 404


# --- Who may see -------------------------------------------------------------------------------


@pytest.fixture
def family(clinic, own):
    """Mara acts for her husband Theo too (every scope but the health record)."""
    husband = PatientFactory(clinic=clinic, first_name="Theo", last_name="Okafor")
    PatientAccessFactory(
        user=own.user, patient=husband, relationship=PatientAccess.Relationship.SPOUSE
    )
    MedicationFactory(patient=husband, display="Salbutamol inhaler")
    AllergyFactory(patient=husband, display="Bee stings")
    ImmunizationFactory(patient=husband, display="Measles vaccine")
    return husband, stored_document(husband, title="Theo's letter")


def test_a_representative_without_the_health_record_gets_a_404_on_every_page_and_file(own, family):
    husband, document = family
    client = portal_client(own.user, husband)
    assert "Theo" in text_of(client.get("/portal/"))  # acting for him
    for url in [*PAGES.values(), f"{BASE}documents/{document.pk}/"]:
        assert client.get(url).status_code == 404, url
        assert client.post(url).status_code == 404, url
    assert not AuditEvent.objects.filter(action__startswith="record.").exists()


def test_the_same_account_acting_for_its_own_chart_sees_its_own_record_only(own, family):
    MedicationFactory(patient=own.patient, display="Metformin 500 mg tablet")
    client = portal_client(own.user, own.patient)
    page = text_of(client.get(PAGES["medications"]))
    assert "Metformin 500 mg tablet" in page and "Salbutamol inhaler" not in page
    _husband, document = family
    assert client.get(f"{BASE}documents/{document.pk}/").status_code == 404


def test_a_visitor_is_sent_to_sign_in(clinic):
    from tests.clients import host_client

    response = host_client("demo").get(PAGES["medications"])
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/")


@pytest.mark.parametrize("section", PAGES)
def test_each_page_read_is_audited_with_its_section(client, own, section):
    client.get(PAGES[section])
    event = AuditEvent.objects.get(action="record.viewed")
    assert (event.actor, event.acting_for) == (own.user, own.patient)
    assert event.details == {"section": section}


# --- In French --------------------------------------------------------------------------------


def test_the_pages_speak_french(client, own):
    client.cookies["django_language"] = "fr"
    MedicationFactory(patient=own.patient, status="active")
    AllergyFactory(patient=own.patient, criticality="high")
    assert "Médicaments actuels" in text_of(client.get(PAGES["medications"]))
    assert "Risque élevé" in text_of(client.get(PAGES["allergies"]))
    assert "Vaccins" in text_of(client.get(PAGES["immunizations"]))
    assert "Documents" in text_of(client.get(PAGES["documents"]))


# --- Pages and queries ----------------------------------------------------------------------


def _grow(patient, count):
    """``count`` rows of every kind, written at once."""
    now = timezone.now()
    common = {"clinic": patient.clinic, "patient": patient, "received_at": now}
    rows = {
        Medication: [
            Medication(
                **common,
                kind="request",
                display=f"Drug {n}",
                status=("active", "stopped")[n % 2],
                dosage="Once a day",
                date=now - dt.timedelta(days=n),
            )
            for n in range(count)
        ],
        AllergyIntolerance: [
            AllergyIntolerance(
                **common,
                display=f"Allergen {n}",
                criticality="low",
                clinical_status="active",
                date=now - dt.timedelta(days=n),
            )
            for n in range(count)
        ],
        Immunization: [
            Immunization(
                **common,
                display=f"Vaccine {n}",
                status="completed",
                date=now - dt.timedelta(days=n),
            )
            for n in range(count)
        ],
        Document: [
            Document(
                **common,
                kind="letter",
                title=f"Letter {n}",
                status="current",
                file=f"{patient.clinic_id}/missing",
                size=100,
                sha1="0" * 40,
                date=now - dt.timedelta(days=n),
            )
            for n in range(count)
        ],
    }
    for model, batch in rows.items():
        model.objects.bulk_create(batch)
    # Every active prescription has a refill request, the page shows its newest.
    RefillRequest.objects.bulk_create(
        RefillRequest(
            clinic=patient.clinic,
            patient=patient,
            medication=medication,
            pharmacy_note="Main Street Pharmacy",
            status=RefillRequest.Status.PENDING if n % 4 == 0 else RefillRequest.Status.APPROVED,
        )
        for n, medication in enumerate(rows[Medication])
        if medication.status == "active"
    )
    # bulk_create sends no signal: code that writes rows so tells the pages' cache itself.
    page_cache.chart_changed(clinic_id=patient.clinic_id, patient_id=patient.pk)


def _queries(client, url) -> int:
    """The queries of one request, but the session's (in the cache with Redis)."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len([q for q in queries if "django_session" not in q["sql"]])


# The account and its grants are cached; a page rendered counts its rows, reads one page
# of them (medications with their newest refill request, in the same query) and writes
# its audit event; a page from the cache only writes the audit event.
RENDERED, FROM_CACHE = 3, 1


@pytest.mark.parametrize("section", PAGES)
def test_each_page_runs_a_fixed_number_of_queries_with_1_or_500_rows(client, own, section):
    client.get("/portal/")  # the caches of the session's account and grants are warm
    _grow(own.patient, 1)
    small = _queries(client, PAGES[section]), _queries(client, PAGES[section])
    _grow(own.patient, 499)
    large = _queries(client, PAGES[section]), _queries(client, PAGES[section])
    assert small == large == (RENDERED, FROM_CACHE)


def test_long_lists_come_in_pages_of_fifty(client, own):
    _grow(own.patient, 51)
    first = text_of(client.get(PAGES["documents"]))
    assert "Letter 0<" in first and "Letter 49<" in first and "Letter 50<" not in first
    assert "Page 1 of 2" in first
    assert "Letter 50<" in text_of(client.get(PAGES["documents"] + "?page=2"))


def test_the_pages_only_read(client, own):
    document = stored_document(own.patient)
    for url in [*PAGES.values(), f"{BASE}results/", f"{BASE}documents/{document.pk}/"]:
        assert client.post(url).status_code == 405, url
        assert client.options(url).status_code == 405, url
    assert not AuditEvent.objects.filter(action__startswith="record.").exists()
