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
)
from messaging.models import Message, Thread
from patients import demographics
from patients.models import ChangeRequest, Patient, PatientAccess

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
