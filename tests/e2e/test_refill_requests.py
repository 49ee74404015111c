"""Results and a refill, end to end: the clinic's record system sends results through the
FHIR API (released at once by the clinic's rule), the patient is told and reads them
with their trend, asks for a refill of a prescription, the front desk approves it in
the admin, and the patient reads the answer in their messages and on the medication."""

import re

import pytest
from django.core import mail
from django.test import Client

from portal.notifications.models import Notification
from records.models import RefillRequest, ReleaseRule
from tests.e2e.browser import DESKTOP, PHONE, admin_sign_in, portal_session_in
from tests.factories import (
    ClinicFactory,
    PatientAccessFactory,
    PatientFactory,
    StaffFactory,
)
from tests.fhir.smart import get_token, register
from tests.fhir.test_api import Api

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SCOPES = "system/Observation.cruds system/DiagnosticReport.cruds system/MedicationRequest.cruds"
LOINC = "http://loinc.org"


def _glucose(chart, identifier, value, when):
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:lab:results", "value": identifier}],
        "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": "2345-7", "display": "Glucose"}]},
        "subject": {"reference": f"Patient/{chart.pk}"},
        "effectiveDateTime": when,
        "issued": when,
        "valueQuantity": {"value": value, "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.9}, "high": {"value": 6.1}}],
    }


def _send_results_and_a_prescription(api, chart):
    earlier = api.post("Observation", _glucose(chart, "G-0", 6.4, "2029-12-02T09:00:00-05:00"))
    newest = api.post("Observation", _glucose(chart, "G-1", 7.2, "2030-01-13T09:00:00-05:00"))
    assert (earlier.status_code, newest.status_code) == (201, 201), newest.content
    report = api.post(
        "DiagnosticReport",
        {
            "resourceType": "DiagnosticReport",
            "identifier": [{"system": "urn:lab:reports", "value": "P-1"}],
            "status": "final",
            "category": [{"coding": [{"code": "LAB"}]}],
            "code": {"text": "Metabolic panel"},
            "subject": {"reference": f"Patient/{chart.pk}"},
            "issued": "2030-01-13T15:00:00Z",
            "result": [{"reference": f"Observation/{newest.json()['id']}"}],
        },
    )
    assert report.status_code == 201, report.content
    prescription = api.post(
        "MedicationRequest",
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Atorvastatin 20 mg tablet"},
            "subject": {"reference": f"Patient/{chart.pk}"},
            "authoredOn": "2029-11-02",
            "requester": {"display": "Dr Amara Osei"},
            "dosageInstruction": [{"text": "1 tablet every evening"}],
        },
    )
    assert prescription.status_code == 201, prescription.content


def _fits_the_width(page, width):
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_results_arrive_the_patient_asks_a_refill_and_reads_the_answer(
    page, clinic_url, screenshot, frozen
):
    clinic = ClinicFactory(slug="demo", name="Demo Family Clinic")
    ReleaseRule.objects.create(clinic=clinic, category="", mode=ReleaseRule.Mode.AT_ONCE)
    chart = PatientFactory(
        clinic=clinic, first_name="Olivia", last_name="Tremblay", email="olivia@example.com"
    )
    grant = PatientAccessFactory(patient=chart)
    ehr = register(clinic, scopes=SCOPES)
    api = Api(get_token(Client(), ehr, scope=SCOPES))

    # The record system sends results; the clinic's rule shows them at once.
    _send_results_and_a_prescription(api, chart)
    # Each POST that shows a new result tells the patient (the outbox, then the email).
    assert Notification.objects.filter(template="result_available", status="sent").exists()
    notice = [m for m in mail.outbox if m.to == ["olivia@example.com"]][-1]
    assert "Glucose" not in notice.body and "7.2" not in notice.body
    link = re.search(r"http://\S+/portal/health-record/results/", notice.body).group(0)

    # The patient follows the notice's link and reads the results and their trend.
    portal_session_in(page.context, clinic_url("demo", "/"), grant.user, chart)
    page.goto(link)
    page.get_by_role("heading", name="Metabolic panel").wait_for()
    main = page.locator("main")
    assert "7.2" in main.inner_text() and "mmol/L" in main.inner_text()
    assert page.locator("figure.trend svg").count() == 1
    assert "Trend of Glucose: 2 values" in page.locator("figure.trend title").text_content()

    # Medications: the prescription, and a refill asked for.
    page.get_by_role("link", name="Medications").first.click()
    page.get_by_role("heading", name="Current medications").wait_for()
    page.get_by_role("link", name="Request a refill Atorvastatin 20 mg tablet").click()
    note = "Main Street Pharmacy, I will collect it Friday"
    page.get_by_label("Note for the pharmacy").fill(note)
    screenshot(page, "refill-request-form")
    page.set_viewport_size(PHONE)
    screenshot(page, "refill-request-form-phone")
    assert _fits_the_width(page, PHONE["width"])
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Send the refill request").click()
    page.get_by_text("Your refill request was sent to the clinic").wait_for()
    assert "Refill requested on 14 January 2030" in main.inner_text()
    assert page.get_by_role("link", name=re.compile("Request a refill")).count() == 0
    screenshot(page, "refill-request-pending")
    page.set_viewport_size(PHONE)
    screenshot(page, "refill-request-pending-phone")
    assert _fits_the_width(page, PHONE["width"])
    page.set_viewport_size(DESKTOP)

    # The front desk approves it in the admin, with an answer.
    StaffFactory(clinic=clinic, username="frontdesk")
    staff = page.context.browser.new_context(viewport=DESKTOP)
    desk = staff.new_page()
    admin_sign_in(desk, clinic_url("demo", "/admin/records/refillrequest/"), "frontdesk")
    desk.locator("#result_list tbody th a").first.click()
    desk.get_by_text(note).wait_for()
    desk.get_by_label("Answer (the patient reads it with the medication)").fill(
        "Sent to your pharmacy, ready tomorrow after 2 p.m."
    )
    screenshot(desk, "refill-request-admin")
    desk.get_by_role("button", name="Approve").click()
    desk.get_by_text("Refill approved.").wait_for()
    refill = RefillRequest.objects.get()
    assert refill.status == RefillRequest.Status.APPROVED
    staff.close()

    # The patient is told, and reads the answer.
    answered = [m for m in mail.outbox if "answered your refill request" in m.subject]
    assert len(answered) == 1 and "Atorvastatin" not in answered[0].body
    page.reload()
    assert "Refill approved on 14 January 2030" in main.inner_text()
    assert "Sent to your pharmacy, ready tomorrow after 2 p.m." in main.inner_text()
    page.get_by_role("link", name="Messages").first.click()
    page.get_by_role("link", name=re.compile("Your refill request was answered")).click()
    thread = page.locator("main").inner_text()
    # The message points to the answer and holds nothing of the record: someone who
    # reads the patient's messages without the health record learns nothing more.
    assert "Its answer is on the Medications page of your health record." in thread
    assert "Atorvastatin" not in thread and "ready tomorrow" not in thread
