"""The kinds of patient request the API serves as FHIR Tasks.

Each kind names its rows of a clinic, how one reads as a Task, and how a record system
decides it (complete, reject) through the services staff use in the admin. A new kind
joins by adding one ``TaskKind`` here: the Task URLs, search
paging, the CapabilityStatement and the tests' sweep follow from ``TASK_KINDS``.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model, QuerySet

from appointments.models import AppointmentRequest
from clinics.models import Clinic
from fhir_api import selectors, services
from fhir_api.representation import (
    APPOINTMENT_REQUEST_TASK_STATUS,
    CHANGE_REQUEST_TASK_STATUS,
    REFILL_REQUEST_TASK_STATUS,
    task_resource,
)
from patients.models import ChangeRequest
from records.models import RefillRequest


@dataclass(frozen=True)
class TaskKind:
    prefix: str  # of its Task ids: "<prefix>-<row id>"
    code: str  # in representation.TASK_CODE_SYSTEM
    model: type[Model]
    statuses: dict  # the row's status → Task.status
    rows: Callable[[Clinic], QuerySet]  # the clinic's rows, loaded for ``resource``
    resource: Callable[[Model], dict]
    # complete(row=, outputs=, actor=, request=) / reject(row=, reason=, actor=, request=):
    # raise services.Conflict when the request was already decided.
    complete: Callable[..., None]
    reject: Callable[..., None]

    def is_pending(self, row) -> bool:
        return self.statuses[row.status] == "requested"


TASK_KINDS = (
    TaskKind(
        prefix="cr",
        code="change-request",
        model=ChangeRequest,
        statuses=CHANGE_REQUEST_TASK_STATUS,
        rows=selectors.change_request_tasks,
        resource=task_resource,
        complete=services.change_request_complete,
        reject=services.change_request_reject,
    ),
    TaskKind(
        prefix="ar",
        code="appointment-request",
        model=AppointmentRequest,
        statuses=APPOINTMENT_REQUEST_TASK_STATUS,
        rows=selectors.appointment_request_tasks,
        resource=task_resource,
        complete=services.appointment_request_complete,
        reject=services.appointment_request_reject,
    ),
    TaskKind(
        prefix="rr",
        code="refill-request",
        model=RefillRequest,
        statuses=REFILL_REQUEST_TASK_STATUS,
        rows=selectors.refill_request_tasks,
        resource=task_resource,
        complete=services.refill_request_complete,
        reject=services.refill_request_reject,
    ),
)
KIND_BY_PREFIX = {kind.prefix: kind for kind in TASK_KINDS}
