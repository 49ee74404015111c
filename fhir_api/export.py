"""The patient's own copy of their record (right of access): everything the portal holds
about one chart, as a FHIR R4 Bundle (``collection``) and as a printable summary.

The record is a list of sections. Each one names the scope a representative's grant
needs for it (``None``: the patient's own grant only, never a representative), loads
its rows for the chart (clinic-scoped, a fixed number of queries however many rows),
turns them into FHIR resources for the Bundle (``fhir``; ``None`` while the portal has
no FHIR shape for them yet: they are in the summary only) and shows them in the summary
(``template``, with what ``present`` makes of the rows).
"""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from appointments.models import Appointment, AppointmentRequest
from clinics.models import Clinic
from fhir_api.health_record_representation import (
    allergy_resource,
    diagnostic_report_resource,
    document_resource,
    immunization_resource,
    medication_request_resource,
    medication_statement_resource,
    observation_resource,
)
from fhir_api.representation import (
    appointment_resource,
    communication_resource,
    dumped,
    identifier_systems,
    instant,
    patient_resource,
    related_person_resource,
    task_resource,
)
from fhir_api.selectors import (
    appointment_request_tasks,
    appointments_for,
    change_request_tasks,
    communications_for,
    patients_for,
    related_people_for,
    with_version,
)
from messaging.models import Message, Thread
from patients import demographics
from patients.models import ChangeRequest, Patient, PatientAccess
from records import interpretation
from records import selectors as records
from records.models import (
    AllergyIntolerance,
    DiagnosticReport,
    Document,
    Immunization,
    Medication,
    Observation,
)

APPOINTMENTS, MESSAGES, DEMOGRAPHICS, HEALTH_RECORD = PatientAccess.SCOPES
OWN_GRANT_ONLY = None


@dataclass(frozen=True)
class Section:
    key: str
    title: Promise
    scope: str | None  # OWN_GRANT_ONLY, or the PatientAccess scope a representative needs
    load: Callable[[Clinic, Patient], Any]
    template: str
    present: Callable[[Any], Any] = lambda rows: rows
    fhir: Callable[[Any], list[dict]] | None = None

    def allowed_to(self, access: PatientAccess) -> bool:
        if self.scope is OWN_GRANT_ONLY:
            return not access.acts_for_someone_else
        return access.allows(self.scope)


def resources(builder: Callable[[Any], dict], rows: Callable[[Any], Iterable] = list):
    """The Bundle builder that makes one resource of each row (``rows`` picks the rows
    out of what the section loaded: a thread's messages, say)."""
    return lambda loaded: [builder(row) for row in rows(loaded)]


# --- Loaders: the chart's rows of one kind, clinic-scoped ------------------------------


def _chart(clinic: Clinic, patient: Patient) -> tuple[Patient, dict[int, str]]:
    """The chart with its identifiers and FHIR version, and the clinic's ID systems."""
    return patients_for(clinic).get(pk=patient.pk), identifier_systems(clinic)


def _appointments(clinic: Clinic, patient: Patient) -> list[Appointment]:
    return list(appointments_for(clinic).filter(patient=patient).order_by("-start", "-pk"))


class Conversations:
    """The chart's conversations, read as each use needs them: the summary's threads,
    newest first, each with its messages (oldest first) and their attachments (three
    queries), or the Bundle's messages as the Communication builder reads them (two)."""

    def __init__(self, clinic: Clinic, patient: Patient):
        self.clinic, self.patient = clinic, patient

    @cached_property
    def threads(self) -> list[Thread]:
        return list(
            Thread.objects.for_clinic(self.clinic)
            .filter(patient=self.patient)
            .with_conversation()
            .order_by("-last_message_at", "-pk")
        )

    @cached_property
    def messages(self) -> list[Message]:
        return list(communications_for(self.clinic).filter(thread__patient=self.patient))


def _communications(loaded: Conversations) -> list[dict]:
    return [
        communication_resource(
            message,
            clinic_name=loaded.clinic.public_name,
            previous_id=message.fhir_previous_id,
            representative_id=message.fhir_representative_id,
        )
        for message in loaded.messages
    ]


def _change_requests(clinic: Clinic, patient: Patient) -> list[ChangeRequest]:
    """The chart's requests to change details, as the Task builder reads them."""
    return list(change_request_tasks(clinic).filter(patient=patient).order_by("-created_at", "-pk"))


def _appointment_requests(clinic: Clinic, patient: Patient) -> list[AppointmentRequest]:
    """The chart's appointment requests, as the Task builder reads them."""
    return list(
        appointment_request_tasks(clinic).filter(patient=patient).order_by("-created_at", "-pk")
    )


def _representatives(clinic: Clinic, patient: Patient) -> list[PatientAccess]:
    """The live grants of people who act for the patient."""
    return list(
        related_people_for(clinic)
        .filter(patient=patient, fhir_active=True)
        .order_by("created_at", "pk")
    )


def _related_people(grants: list[PatientAccess]) -> list[dict]:
    return [related_person_resource(grant, active=grant.fhir_active) for grant in grants]


# --- The health record: what the patient's pages show, nothing more ------------------------


@dataclass(frozen=True)
class Results:
    """The results released to the patient now (``records.selectors
    .results_released_to_patient``, the one rule of the Results page and the notices):
    the reports, and every shown observation (of a shown report, or alone), newest
    first. Three queries: the patient's preference, the reports, the observations."""

    reports: list[DiagnosticReport]
    observations: list[Observation]

    def of_report(self, report: DiagnosticReport) -> list[Observation]:
        return [o for o in self.observations if o.report_id == report.pk]

    def alone(self) -> list[Observation]:
        return [o for o in self.observations if o.report_id is None]


def _results(clinic: Clinic, patient: Patient) -> Results:
    released = records.results_released_to_patient(patient=patient, now=timezone.now())
    return Results(
        reports=list(with_version(released.reports).order_by("-date", "-pk")),
        observations=list(with_version(released.observations).order_by("-date", "-pk")),
    )


def _results_bundle(loaded: Results) -> list[dict]:
    return [
        *(
            diagnostic_report_resource(report, sorted(o.pk for o in loaded.of_report(report)))
            for report in loaded.reports
        ),
        *(observation_resource(observation) for observation in loaded.observations),
    ]


def _result_row(observation: Observation) -> dict:
    flag = interpretation.flag(observation.interpretation)
    return {
        "name": observation.display,
        "value": interpretation.value_text(observation),
        "range": interpretation.range_text(observation),
        "flag": flag[0] if flag else "",
    }


def _result_groups(loaded: Results) -> list[dict]:
    """Each report with its results, and each result alone, newest first."""
    groups = [
        {
            "name": report.display,
            "date": report.date,
            "performer": report.performer,
            "conclusion": report.conclusion,
            "rows": [_result_row(o) for o in loaded.of_report(report)],
        }
        for report in loaded.reports
    ] + [
        {"name": "", "date": o.date, "performer": "", "conclusion": "", "rows": [_result_row(o)]}
        for o in loaded.alone()
    ]
    return sorted(groups, key=lambda group: group["date"], reverse=True)


def _medications(clinic: Clinic, patient: Patient) -> list[Medication]:
    return list(with_version(records.medications_for_page(patient)))


def _medication_resource(row: Medication) -> dict:
    if row.kind == Medication.Kind.STATEMENT:
        return medication_statement_resource(row)
    return medication_request_resource(row)


def _allergies(clinic: Clinic, patient: Patient) -> list[AllergyIntolerance]:
    return list(with_version(records.allergies_for_patient(patient)).order_by("-date", "-pk"))


def _immunizations(clinic: Clinic, patient: Patient) -> list[Immunization]:
    return list(with_version(records.immunizations_for_patient(patient)).order_by("-date", "-pk"))


def _documents(clinic: Clinic, patient: Patient) -> list[Document]:
    """The documents shared with the patient, by title and date: the copy names them (and
    the Bundle gives each file's type, size and hash), the files stay on the Documents
    page."""
    return list(with_version(records.documents_for_patient(patient)).order_by("-date", "-pk"))


# --- What the summary shows -------------------------------------------------------------


def _details(loaded) -> list[tuple[str, str]]:
    patient, _systems = loaded
    values = demographics.chart_values(patient)
    return [
        (demographics.field_label(name), demographics.display_value(name, values[name]))
        for name in demographics.DEMOGRAPHIC_FIELDS
    ]


def _change_request_rows(change_requests):
    return [
        (
            change_request,
            demographics.STATUS_MESSAGES[change_request.status],
            [
                (
                    demographics.field_label(item.field),
                    demographics.display_value(item.field, item.old_value),
                    demographics.display_value(item.field, item.new_value),
                    item.get_decision_display(),
                )
                for item in change_request.items.all()
            ],
        )
        for change_request in change_requests
    ]


SCOPE_LABELS = {
    APPOINTMENTS: _("appointments"),
    MESSAGES: _("messages"),
    DEMOGRAPHICS: _("details"),
    HEALTH_RECORD: _("health record"),
}


def _representative_rows(grants: list[PatientAccess]):
    """(who, relationship, what they may see, until when) of each representative."""
    return [
        (
            str(grant.user),
            grant.get_relationship_display(),
            [SCOPE_LABELS[scope] for scope in PatientAccess.SCOPES if grant.allows(scope)],
            grant.expires_at,
        )
        for grant in grants
    ]


def _patient_bundle(loaded) -> list[dict]:
    patient, systems = loaded
    return [patient_resource(patient, systems)]


# The record, in the order the summary shows it and the Bundle lists it. A FHIR shape for
# a section's rows is one line: its ``fhir=`` builder.
SECTIONS = [
    Section(
        "details",
        _("Your details"),
        DEMOGRAPHICS,
        _chart,
        "fhir_api/record/_details.html",
        present=_details,
        fhir=_patient_bundle,
    ),
    Section(
        "appointments",
        _("Appointments"),
        APPOINTMENTS,
        _appointments,
        "fhir_api/record/_appointments.html",
        fhir=resources(appointment_resource),
    ),
    Section(
        "appointment_requests",
        _("Appointment requests"),
        APPOINTMENTS,
        _appointment_requests,
        "fhir_api/record/_appointment_requests.html",
        fhir=resources(task_resource),
    ),
    Section(
        "messages",
        _("Messages"),
        MESSAGES,
        Conversations,
        "fhir_api/record/_messages.html",
        present=lambda loaded: loaded.threads,
        fhir=_communications,
    ),
    Section(
        "change_requests",
        _("Requests to change your details"),
        DEMOGRAPHICS,
        _change_requests,
        "fhir_api/record/_change_requests.html",
        present=_change_request_rows,
        fhir=resources(task_resource),
    ),
    Section(
        "results",
        _("Results"),
        HEALTH_RECORD,
        _results,
        "fhir_api/record/_results.html",
        present=_result_groups,
        fhir=_results_bundle,
    ),
    Section(
        "medications",
        _("Medications"),
        HEALTH_RECORD,
        _medications,
        "fhir_api/record/_medications.html",
        fhir=resources(_medication_resource),
    ),
    Section(
        "allergies",
        _("Allergies"),
        HEALTH_RECORD,
        _allergies,
        "fhir_api/record/_allergies.html",
        fhir=resources(allergy_resource),
    ),
    Section(
        "immunizations",
        _("Immunizations"),
        HEALTH_RECORD,
        _immunizations,
        "fhir_api/record/_immunizations.html",
        fhir=resources(immunization_resource),
    ),
    Section(
        "documents",
        _("Documents"),
        HEALTH_RECORD,
        _documents,
        "fhir_api/record/_documents.html",
        fhir=resources(document_resource),
    ),
    Section(
        "representatives",
        _("People who act for you"),
        OWN_GRANT_ONLY,
        _representatives,
        "fhir_api/record/_representatives.html",
        present=_representative_rows,
        fhir=_related_people,
    ),
]


# --- The record -------------------------------------------------------------------------


@dataclass
class Record:
    clinic: Clinic
    patient: Patient
    sections: list[tuple[Section, Any]]  # each section the grant allows, with its rows
    made_at: dt.datetime

    @property
    def keys(self) -> list[str]:
        return [section.key for section, _rows in self.sections]

    def shown(self) -> list[tuple[Section, Any]]:
        """Each section with what the summary shows of it."""
        return [(section, section.present(rows)) for section, rows in self.sections]


def sections_for(access: PatientAccess) -> list[Section]:
    """The sections the grant allows: every one for the patient, a representative's
    scopes' for them (none at all: they may not have a copy)."""
    return [section for section in SECTIONS if section.allowed_to(access)]


def record_load(*, clinic: Clinic, access: PatientAccess, fhir_only: bool = False) -> Record:
    """The rows of the chart ``access`` reaches, of each section it allows (only those
    the Bundle has a shape for, with ``fhir_only``): a fixed number of queries whatever
    the number of rows."""
    patient = access.patient
    sections = [s for s in sections_for(access) if s.fhir is not None or not fhir_only]
    return Record(
        clinic=clinic,
        patient=patient,
        sections=[(section, section.load(clinic, patient)) for section in sections],
        made_at=timezone.now(),
    )


def record_bundle(record: Record, *, base_url: str) -> dict:
    """The record as a FHIR R4 ``collection`` Bundle, validated whole. ``base_url`` is
    the clinic's FHIR base (``…/fhir/R4/``): each entry's ``fullUrl`` is its address
    there."""
    entries = [
        {"fullUrl": f"{base_url}{resource['resourceType']}/{resource['id']}", "resource": resource}
        for section, rows in record.sections
        if section.fhir is not None
        for resource in section.fhir(rows)
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "timestamp": instant(record.made_at)}
    if entries:  # FHIR has no empty lists
        bundle["entry"] = entries
    return dumped(bundle)
