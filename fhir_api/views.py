"""The FHIR R4 REST API of one clinic (``/fhir/R4/``): thin views over the selectors,
services and SMART token checks. Every answer is ``application/fhir+json``; every
error an OperationOutcome."""

import json
import logging
from functools import wraps
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from appointments.models import Appointment
from fhir_api import selectors, services, smart
from fhir_api.capability import MAX_TRANSACTION_ENTRIES, capability_statement
from fhir_api.models import SCOPE_RESOURCES
from fhir_api.representation import (
    Invalid,
    TaskFieldsChanged,
    appointment_resource,
    communication_resource,
    identifier_systems,
    is_number,
    patient_resource,
    practitioner_resource,
    related_person_resource,
    schedule_resource,
    slot_resource,
    task_decision,
    validated,
)
from fhir_api.tasks import KIND_BY_PREFIX, TASK_KINDS
from patients.models import Patient
from portal.audit.services import audit_record
from portal.core.ratelimit import limit_reached

logger = logging.getLogger(__name__)
# MAX_TRANSACTION_ENTRIES (fhir_api.capability, 1,000: the import benchmark sends 1,000
# Patients in one Bundle): a larger transaction Bundle is refused (413) before any work.

FHIR_JSON = "application/fhir+json"
DEFAULT_COUNT, MAX_COUNT = 50, 200


class Outcome(Exception):  # noqa: N818 - an HTTP error answered as an OperationOutcome
    def __init__(self, status: int, code: str, diagnostics: str):
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics


def fhir_response(data: dict, status: int = 200, headers=None) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data), status=status, content_type=f"{FHIR_JSON}; charset=utf-8"
    )
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def outcome_response(status: int, code: str, diagnostics: str) -> HttpResponse:
    severity = "error" if status < 500 else "fatal"
    return fhir_response(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
        },
        status=status,
    )


def base_url(request) -> str:
    return request.build_absolute_uri(reverse("fhir:base"))


def etag(data: dict) -> dict:
    version = data.get("meta", {}).get("versionId")
    return {"ETag": f'W/"{version}"'} if version else {}


def _body(request) -> dict:
    try:
        return json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Outcome(400, "structure", "the body is not JSON") from exc
    except RecursionError as exc:
        raise Outcome(400, "structure", "the body is nested too deeply") from exc


def api(resource: str, verb: str):
    """Authenticate the bearer token (this clinic's, live, its client active), check the
    scope for ``verb``, count the client's rate limit, and answer errors as
    OperationOutcomes. The view gets the token; the client's account acts."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _space, bearer = header.partition(" ")
            token = (
                smart.token_authenticate(clinic=request.clinic, bearer=bearer.strip())
                if scheme.lower() == "bearer"
                else None
            )
            if token is None:
                response = outcome_response(401, "login", "a valid access token is required")
                response["WWW-Authenticate"] = 'Bearer realm="fhir"'
                return response
            client = token.client
            if limit_reached(
                request,
                name="fhir",
                clinic=request.clinic,
                key=f"client:{client.pk}",
                rate=f"{client.requests_per_minute}/m",
            ):
                response = outcome_response(429, "throttled", "too many requests")
                response["Retry-After"] = "60"
                return response
            if any("\x00" in v for _k, values in request.GET.lists() for v in values):
                return outcome_response(400, "invalid", "search parameters may not hold NUL")
            if resource and not smart.allows(token, resource, verb):
                return outcome_response(403, "forbidden", f"the token's scopes do not allow {verb}")
            # The client's account is the author of the history rows its writes append.
            request.user = client.account
            try:
                return view(request, token, *args, **kwargs)
            except Outcome as exc:
                return outcome_response(exc.status, exc.code, exc.diagnostics)
            except Invalid as exc:
                return outcome_response(400, "invalid", str(exc))
            except services.Conflict as exc:
                return outcome_response(409, "conflict", str(exc))
            except services.RuleBroken as exc:
                return outcome_response(422, "business-rule", f"booking rule: {exc.rule}")
            except (ValueError, OverflowError, RecursionError) as exc:
                # The last net for input the checks above missed: every transaction the
                # view opened has been rolled back by the time the error reaches here.
                # The kind of error only: its message and traceback may quote the input,
                # a patient's details.
                logger.warning("fhir: malformed input refused (%s)", type(exc).__name__)
                return outcome_response(400, "invalid", "the request is not valid")

        return wrapper

    return decorate


def _audit(request, token, action, *, obj=None, patient=None, details=None):
    audit_record(
        action=action,
        clinic=request.clinic,
        actor=token.client.account,
        request=request,
        obj=obj,
        acting_for=patient,
        details={"client": token.client.name, **(details or {})},
    )


def _page(request, rows, render, resource: str, *, by_start=False) -> dict:
    """A searchset Bundle of one page (``_count``, at most 200) with a ``next`` link that
    continues after the page's last row: ordered by id, or by start time then id
    (``by_start``, so one day's visits are read along the (clinic, start) index)."""
    try:
        count = min(int(request.GET.get("_count", DEFAULT_COUNT)), MAX_COUNT)
        if count < 0:
            raise ValueError(count)
        after = request.GET.get("_after", "")
        if by_start:
            rows = rows.order_by("start", "pk")
            if after:
                stamp, _tilde, last = after.rpartition("~")
                moment = parse_datetime(stamp)
                if moment is None:
                    raise ValueError(after)
                # start >= moment, implied by the OR, bounds the index scan: without it
                # every page read the day from its first visit and filtered the rows
                # of the earlier pages away (page 96 of a day read 19,200 rows).
                rows = rows.filter(start__gte=moment).filter(
                    Q(start__gt=moment) | Q(start=moment, pk__gt=int(last))
                )
        elif after:
            rows = rows.filter(pk__gt=int(after))
    except ValueError as exc:
        raise Outcome(400, "invalid", "_count and _after are not valid") from exc
    page = list(rows[: count + 1]) if count > 0 else []
    more = len(page) > count
    page = page[:count]
    url = request.build_absolute_uri(request.path)
    query = [(k, v) for k, v in request.GET.lists() for v in v if k != "_after"]
    links = [{"relation": "self", "url": f"{url}?{urlencode(query)}"}]
    if more:
        last = page[-1]
        cursor = f"{last.start.isoformat()}~{last.pk}" if by_start else str(last.pk)
        links.append(
            {"relation": "next", "url": f"{url}?{urlencode([*query, ('_after', cursor)])}"}
        )
    base = base_url(request)  # once a page: reversing it per row cost 15 % of a page
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}{resource}/{row.pk}",
                "resource": render(row),
                "search": {"mode": "match"},
            }
            for row in page
        ],
    }


def _known_params(request, allowed: set[str]) -> None:
    unknown = set(request.GET) - allowed - {"_count", "_after", "_format"}
    if unknown:
        raise Outcome(400, "not-supported", f"unsupported search parameters: {sorted(unknown)}")


def _check_if_match(request, current: dict) -> None:
    wanted = request.headers.get("If-Match")
    if wanted is not None and wanted.strip() != etag(current).get("ETag"):
        raise Outcome(412, "conflict", "the resource has changed since that version")


# --- Discovery (no token) ---------------------------------------------------------------


@require_GET
def metadata(request):
    return fhir_response(capability_statement(base_url(request)))


@require_GET
def smart_configuration(request):
    token_url = request.build_absolute_uri(reverse("fhir:token"))
    return JsonResponse(
        {
            "token_endpoint": token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": smart.ALGORITHMS,
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": [
                f"system/{r}.{v}" for r in SCOPE_RESOURCES if r != "Task" for v in ("cruds", "rs")
            ]
            + ["system/Task.rs", "system/Task.rus"],
            "capabilities": ["client-confidential-asymmetric"],
        }
    )


@csrf_exempt
@require_POST
def token(request):
    """OAuth 2.0 client credentials with a JWT client assertion (RFC 7523)."""
    form = request.POST
    token_url = request.build_absolute_uri(reverse("fhir:token"))
    if form.get("grant_type") != "client_credentials":
        return JsonResponse({"error": "unsupported_grant_type"}, status=400)
    if form.get("client_assertion_type") != smart.ASSERTION_TYPE:
        return JsonResponse({"error": "invalid_request"}, status=400)
    try:
        issued = smart.token_issue(
            clinic=request.clinic,
            assertion=form.get("client_assertion", ""),
            token_url=token_url,
            scope=form.get("scope", ""),
            request=request,
        )
    except smart.TokenRefused as exc:
        status = 401 if exc.error == "invalid_client" else 400
        return JsonResponse(
            {"error": exc.error, "error_description": exc.description}, status=status
        )
    response = JsonResponse(
        {
            "access_token": issued.access_token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }
    )
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


# --- Patient ----------------------------------------------------------------------------


def _lock(model, clinic, pk) -> None:
    """Wait for and hold the row lock of ``pk`` until the transaction ends. The row is
    read again afterwards in a statement of its own, so (under READ COMMITTED) its
    version is the one a writer before us committed, not the one before the wait."""
    list(model.objects.for_clinic(clinic).select_for_update().filter(pk=pk).values_list("pk"))


def _patient(request, pk, *, lock=False):
    """The clinic's chart ``pk``; ``lock`` takes its row lock (inside a transaction) so
    that the If-Match check and the write see the same version."""
    if lock:
        _lock(Patient, request.clinic, pk)
    row = selectors.patients_for(request.clinic).filter(pk=pk).first()
    if row is None:
        raise Outcome(404, "not-found", "Patient not found")
    return row


def _render_patient(request):
    systems = identifier_systems(request.clinic)
    return lambda row: patient_resource(row, systems)


@api("Patient", "s")
def patient_search(request, token):
    _known_params(request, {"identifier", "name", "birthdate", "_lastUpdated"})
    rows = selectors.patient_search(request.clinic, request.GET)
    bundle = _page(request, rows, _render_patient(request), "Patient")
    _audit(
        request,
        token,
        "fhir.search",
        details={"resource": "Patient", "count": len(bundle["entry"])},
    )
    return fhir_response(bundle)


@api("Patient", "c")
def patient_create(request, token):
    patient = services.patient_save_from_fhir(
        clinic=request.clinic, data=_body(request), actor=token.client.account, request=request
    )
    data = _render_patient(request)(_patient(request, patient.pk))
    headers = {
        "Location": f"{base_url(request)}Patient/{patient.pk}/_history/{data['meta']['versionId']}",
        **etag(data),
    }
    return fhir_response(data, status=201, headers=headers)


@api("Patient", "r")
def patient_read(request, token, pk):
    row = _patient(request, pk)
    data = _render_patient(request)(row)
    _audit(request, token, "fhir.read", obj=row, patient=row)
    return fhir_response(data, headers=etag(data))


@api("Patient", "u")
def patient_update(request, token, pk):
    with transaction.atomic():
        row = _patient(request, pk, lock=True)
        _check_if_match(request, _render_patient(request)(row))
        body = _body(request)
        if isinstance(body, dict) and body.get("id") != str(pk):
            raise Outcome(400, "invalid", "the resource's id must match the URL")
        services.patient_save_from_fhir(
            clinic=request.clinic,
            data=body,
            actor=token.client.account,
            patient=row,
            request=request,
        )
    data = _render_patient(request)(_patient(request, pk))
    return fhir_response(data, headers=etag(data))


# --- Practitioner -----------------------------------------------------------------------


@api("Practitioner", "s")
def practitioner_search(request, token):
    _known_params(request, {"name"})
    rows = selectors.practitioner_search(request.clinic, request.GET)
    bundle = _page(request, rows, practitioner_resource, "Practitioner")
    _audit(request, token, "fhir.search", details={"resource": "Practitioner"})
    return fhir_response(bundle)


@api("Practitioner", "r")
def practitioner_read(request, token, pk):
    row = selectors.practitioners_for(request.clinic).filter(pk=pk).first()
    if row is None:
        raise Outcome(404, "not-found", "Practitioner not found")
    _audit(request, token, "fhir.read", obj=row)
    return fhir_response(practitioner_resource(row))


# --- Schedule and Slot ------------------------------------------------------------------


@api("Schedule", "s")
def schedule_search(request, token):
    _known_params(request, {"actor"})
    rows = selectors.schedule_search(request.clinic, request.GET)
    bundle = _page(request, rows, schedule_resource, "Schedule")
    _audit(request, token, "fhir.search", details={"resource": "Schedule"})
    return fhir_response(bundle)


@api("Schedule", "r")
def schedule_read(request, token, pk):
    row = selectors.schedules_for(request.clinic).filter(pk=pk).first()
    if row is None:
        raise Outcome(404, "not-found", "Schedule not found")
    _audit(request, token, "fhir.read", obj=row)
    return fhir_response(schedule_resource(row))


@api("Slot", "s")
def slot_search(request, token):
    _known_params(request, {"schedule", "start", "status"})
    slots = selectors.slot_search(request.clinic, request.GET)
    base = base_url(request)
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(slots),
        "link": [{"relation": "self", "url": request.build_absolute_uri()}],
        "entry": [
            {
                "fullUrl": f"{base}Slot/{slot['slot_id']}",
                "resource": slot_resource(**slot),
                "search": {"mode": "match"},
            }
            for slot in slots
        ],
    }
    _audit(request, token, "fhir.search", details={"resource": "Slot", "count": len(slots)})
    return fhir_response(bundle)


# --- Appointment ------------------------------------------------------------------------


def _appointment(request, pk, *, lock=False):
    if lock:
        _lock(Appointment, request.clinic, pk)
    row = selectors.appointments_for(request.clinic).filter(pk=pk).first()
    if row is None:
        raise Outcome(404, "not-found", "Appointment not found")
    return row


@api("Appointment", "s")
def appointment_search(request, token):
    _known_params(request, {"patient", "date", "status", "_lastUpdated"})
    rows = selectors.appointment_search(request.clinic, request.GET)
    bundle = _page(request, rows, appointment_resource, "Appointment", by_start=True)
    _audit(
        request,
        token,
        "fhir.search",
        details={"resource": "Appointment", "count": len(bundle["entry"])},
    )
    return fhir_response(bundle)


@api("Appointment", "c")
def appointment_create(request, token):
    appointment = services.appointment_create_from_fhir(
        clinic=request.clinic, data=_body(request), actor=token.client.account, request=request
    )
    data = appointment_resource(_appointment(request, appointment.pk))
    headers = {"Location": f"{base_url(request)}Appointment/{appointment.pk}", **etag(data)}
    return fhir_response(data, status=201, headers=headers)


@api("Appointment", "r")
def appointment_read(request, token, pk):
    row = _appointment(request, pk)
    _audit(request, token, "fhir.read", obj=row, patient=row.patient)
    data = appointment_resource(row)
    return fhir_response(data, headers=etag(data))


@api("Appointment", "u")
def appointment_update(request, token, pk):
    with transaction.atomic():
        row = _appointment(request, pk, lock=True)
        _check_if_match(request, appointment_resource(row))
        body = _body(request)
        if isinstance(body, dict) and body.get("id") != str(pk):
            raise Outcome(400, "invalid", "the resource's id must match the URL")
        services.appointment_update_from_fhir(
            clinic=request.clinic,
            appointment=row,
            data=body,
            actor=token.client.account,
            request=request,
        )
    data = appointment_resource(_appointment(request, pk))
    return fhir_response(data, headers=etag(data))


# --- RelatedPerson ----------------------------------------------------------------------


def _render_related_person(row):
    return related_person_resource(row, active=row.fhir_active)


@api("RelatedPerson", "s")
def related_person_search(request, token):
    _known_params(request, {"patient", "active", "_lastUpdated"})
    rows = selectors.related_person_search(request.clinic, request.GET)
    bundle = _page(request, rows, _render_related_person, "RelatedPerson")
    count = len(bundle["entry"])
    _audit(request, token, "fhir.search", details={"resource": "RelatedPerson", "count": count})
    return fhir_response(bundle)


@api("RelatedPerson", "r")
def related_person_read(request, token, pk):
    row = selectors.related_people_for(request.clinic).filter(pk=pk).first()
    if row is None:
        raise Outcome(404, "not-found", "RelatedPerson not found")
    _audit(request, token, "fhir.read", obj=row, patient=row.patient)
    data = _render_related_person(row)
    return fhir_response(data, headers=etag(data))


# --- Communication ----------------------------------------------------------------------


def _render_communication(request):
    name = request.clinic.public_name
    return lambda row: communication_resource(
        row,
        clinic_name=name,
        previous_id=row.fhir_previous_id,
        representative_id=row.fhir_representative_id,
    )


def _communication(request, pk):
    row = selectors.communications_for(request.clinic).filter(pk=pk).first()
    if row is None:
        raise Outcome(404, "not-found", "Communication not found")
    return row


@api("Communication", "s")
def communication_search(request, token):
    _known_params(request, {"patient", "subject", "sent", "_lastUpdated"})
    rows = selectors.communication_search(request.clinic, request.GET)
    bundle = _page(request, rows, _render_communication(request), "Communication")
    count = len(bundle["entry"])
    _audit(request, token, "fhir.search", details={"resource": "Communication", "count": count})
    return fhir_response(bundle)


@api("Communication", "r")
def communication_read(request, token, pk):
    row = _communication(request, pk)
    _audit(request, token, "fhir.read", obj=row, patient=row.thread.patient)
    return fhir_response(_render_communication(request)(row))


@api("Communication", "c")
def communication_create(request, token):
    try:
        message = services.communication_create_from_fhir(
            clinic=request.clinic, data=_body(request), actor=token.client.account, request=request
        )
    except services.MessageRefused as exc:
        raise Outcome(422, "business-rule", str(exc)) from exc
    data = _render_communication(request)(_communication(request, message.pk))
    headers = {"Location": f"{base_url(request)}Communication/{message.pk}"}
    return fhir_response(data, status=201, headers=headers)


# --- One URL per resource type and per resource, by method --------------------------------


def _by_method(name, **views):
    @csrf_exempt
    def dispatch(request, *args, **kwargs):
        view = views.get(request.method.lower())
        if view is None:
            response = outcome_response(405, "not-supported", f"{request.method} is not supported")
            response["Allow"] = ", ".join(m.upper() for m in views)
            return response
        return view(request, *args, **kwargs)

    dispatch.__name__ = dispatch.__qualname__ = name
    return dispatch


patient_type = _by_method("patient_type", get=patient_search, post=patient_create)
patient_instance = _by_method("patient_instance", get=patient_read, put=patient_update)
practitioner_type = _by_method("practitioner_type", get=practitioner_search)
practitioner_instance = _by_method("practitioner_instance", get=practitioner_read)
schedule_type = _by_method("schedule_type", get=schedule_search)
schedule_instance = _by_method("schedule_instance", get=schedule_read)
slot_type = _by_method("slot_type", get=slot_search)
appointment_type = _by_method("appointment_type", get=appointment_search, post=appointment_create)
appointment_instance = _by_method(
    "appointment_instance", get=appointment_read, put=appointment_update
)
related_person_type = _by_method("related_person_type", get=related_person_search)
related_person_instance = _by_method("related_person_instance", get=related_person_read)
communication_type = _by_method(
    "communication_type", get=communication_search, post=communication_create
)
communication_instance = _by_method("communication_instance", get=communication_read)


def not_found(request):
    return outcome_response(404, "not-found", "no such resource type or interaction")


# --- Transaction Bundle (all or nothing) -----------------------------------------------

_WRITERS = {"Patient", "Appointment"}


def _entry_request(token, entry) -> tuple[str, str, str]:
    """The resource type, verb (c or u) and id an entry's request names, once checked:
    a type the transaction writes, a method it supports, a scope the token holds."""
    method = (entry.get("request") or {}).get("method")
    url = (entry.get("request") or {}).get("url", "")
    resource = entry.get("resource") or {}
    kind, _slash, pk = url.partition("/")
    if pk and not is_number(pk):
        raise Outcome(400, "invalid", f"not a resource id: {url}")
    if kind not in _WRITERS or resource.get("resourceType") != kind:
        raise Outcome(
            400, "not-supported", f"a transaction may write Patients and Appointments: {url}"
        )
    verb = {"POST": "c", "PUT": "u"}.get(method)
    if verb is None or (verb == "c") == bool(pk):
        raise Outcome(400, "not-supported", f"{method} {url} is not supported in a transaction")
    if not smart.allows(token, kind, verb):
        raise Outcome(403, "forbidden", f"the token's scopes do not allow {method} {kind}")
    return kind, verb, pk


def _transaction_entry(request, token, entry, local):
    kind, verb, pk = _entry_request(token, entry)
    resource = entry.get("resource") or {}
    actor = token.client.account
    if kind == "Patient":
        existing = _patient(request, pk, lock=True) if pk else None
        row = services.patient_save_from_fhir(
            clinic=request.clinic, data=resource, actor=actor, patient=existing, request=request
        )
    elif pk:
        row = services.appointment_update_from_fhir(
            clinic=request.clinic,
            appointment=_appointment(request, pk, lock=True),
            data=resource,
            actor=actor,
            request=request,
        )
    else:
        row = services.appointment_create_from_fhir(
            clinic=request.clinic, data=resource, actor=actor, local=local, request=request
        )
    if entry.get("fullUrl"):
        local[entry["fullUrl"]] = f"{kind}/{row.pk}"
    return {
        "response": {
            "status": "201 Created" if verb == "c" else "200 OK",
            "location": f"{kind}/{row.pk}",
        }
    }


@api(None, "")
def transaction_bundle(request, token):
    """``POST /fhir/R4/`` with a transaction Bundle of Patients and Appointments: every
    entry or none (one database transaction); Patients first, so Appointments may refer
    to them by their ``urn:uuid:`` full URL."""
    if request.method != "POST":
        raise Outcome(405, "not-supported", "the base accepts transaction Bundles (POST) only")
    bundle = _body(request)
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Outcome(400, "invalid", "expected a Bundle")
    entry_list = bundle.get("entry")
    if isinstance(entry_list, list) and len(entry_list) > MAX_TRANSACTION_ENTRIES:
        # Refused before any validation or write: one request may not hold a
        # transaction (and its row locks) for minutes.
        raise Outcome(
            413,
            "too-costly",
            f"too many entries: a transaction holds at most {MAX_TRANSACTION_ENTRIES}",
        )
    validated(bundle, "Bundle")
    if bundle.get("type") != "transaction":
        raise Outcome(400, "not-supported", "only transaction Bundles are accepted")
    entries = list(enumerate(bundle.get("entry") or []))
    entries.sort(key=lambda pair: (pair[1].get("resource") or {}).get("resourceType") != "Patient")
    # Every entry's request is checked before any write; the new Patients (POST, which
    # FHIR processes before PUT) are then created together, a table at a time.
    new_charts = [
        (index, entry)
        for index, entry in entries
        if _entry_request(token, entry)[:2] == ("Patient", "c")
    ]
    answers, local = {}, {}
    with transaction.atomic():
        created = services.patients_create_from_fhir(
            clinic=request.clinic,
            resources=[entry.get("resource") or {} for _index, entry in new_charts],
            actor=token.client.account,
            request=request,
        )
        for (index, entry), row in zip(new_charts, created, strict=True):
            if entry.get("fullUrl"):
                local[entry["fullUrl"]] = f"Patient/{row.pk}"
            answers[index] = {
                "response": {"status": "201 Created", "location": f"Patient/{row.pk}"}
            }
        for index, entry in entries:
            if index not in answers:
                answers[index] = _transaction_entry(request, token, entry, local)
        _audit(request, token, "fhir.transaction", details={"entries": len(entries)})
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [answers[index] for index in sorted(answers)],
        }
    )


# --- Task -------------------------------------------------------------------------------
# Patients' requests of every kind in fhir_api.tasks, one search across the kinds (paged
# in the kinds' order, each by id: the cursor is the last Task id) and one URL per kind
# for a Task (``Task/<prefix>-<row id>``).


def _task_page(request, searched) -> dict:
    """A searchset Bundle over ``searched`` ((kind, rows or None) in TASK_KINDS order)."""
    try:
        count = min(int(request.GET.get("_count", DEFAULT_COUNT)), MAX_COUNT)
        after = request.GET.get("_after", "")
        prefix, _dash, last = after.partition("-")
        if count < 0 or (after and (prefix not in KIND_BY_PREFIX or not is_number(last))):
            raise ValueError(after)
    except ValueError as exc:
        raise Outcome(400, "invalid", "_count and _after are not valid") from exc
    order = [kind.prefix for kind in TASK_KINDS]
    first = order.index(prefix) if after else 0
    page = []
    for index, (kind, rows) in enumerate(searched):
        if rows is None or index < first or len(page) > count or count == 0:
            continue
        if after and index == first:
            rows = rows.filter(pk__gt=int(last))
        page += [(kind, row) for row in rows[: count + 1 - len(page)]]
    more = len(page) > count
    page = page[:count]
    url = request.build_absolute_uri(request.path)
    query = [(k, v) for k, v in request.GET.lists() for v in v if k != "_after"]
    links = [{"relation": "self", "url": f"{url}?{urlencode(query)}"}]
    if more:
        kind, row = page[-1]
        cursor = f"{kind.prefix}-{row.pk}"
        links.append(
            {"relation": "next", "url": f"{url}?{urlencode([*query, ('_after', cursor)])}"}
        )
    base = base_url(request)
    entries = []
    for kind, row in page:
        data = kind.resource(row)
        entries.append(
            {"fullUrl": f"{base}Task/{data['id']}", "resource": data, "search": {"mode": "match"}}
        )
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}


def _task(request, kind, pk, *, lock=False):
    if lock:
        _lock(kind.model, request.clinic, pk)
    row = kind.rows(request.clinic).filter(pk=pk).first()
    if row is None:
        raise Outcome(404, "not-found", "Task not found")
    return row


@api("Task", "s")
def task_search(request, token):
    _known_params(request, {"status", "_lastUpdated", "patient", "code"})
    searched = [
        (
            kind,
            selectors.task_search(
                request.clinic,
                request.GET,
                rows=kind.rows(request.clinic),
                code=kind.code,
                statuses=kind.statuses,
            ),
        )
        for kind in TASK_KINDS
    ]
    bundle = _task_page(request, searched)
    _audit(
        request, token, "fhir.search", details={"resource": "Task", "count": len(bundle["entry"])}
    )
    return fhir_response(bundle)


@api("Task", "r")
def task_read(request, token, prefix, pk):
    kind = KIND_BY_PREFIX[prefix]
    row = _task(request, kind, pk)
    _audit(request, token, "fhir.read", obj=row, patient=row.patient)
    data = kind.resource(row)
    return fhir_response(data, headers=etag(data))


@api("Task", "u")
def task_update(request, token, prefix, pk):
    """Decide the request: ``completed`` accepts it, ``rejected`` (with
    ``statusReason.text``) declines it; ``requested`` or ``in-progress`` leaves it
    waiting. Nothing else of a Task may change (422), and a request no longer waiting
    is a 409: the first decision stands."""
    kind = KIND_BY_PREFIX[prefix]
    actor = token.client.account
    with transaction.atomic():
        row = _task(request, kind, pk, lock=True)
        current = kind.resource(row)
        _check_if_match(request, current)
        body = _body(request)
        if isinstance(body, dict) and body.get("id") != current["id"]:
            raise Outcome(400, "invalid", "the resource's id must match the URL")
        if not kind.is_pending(row):
            raise Outcome(409, "conflict", f"the request is already {current['status']}")
        try:
            status, reason, outputs = task_decision(body, current)
        except TaskFieldsChanged as exc:
            raise Outcome(422, "business-rule", str(exc)) from exc
        try:
            if status in ("requested", "in-progress") and not outputs:
                return fhir_response(current, headers=etag(current))
            if status == "completed":
                kind.complete(row=row, outputs=outputs, actor=actor, request=request)
            elif status == "rejected" and reason:
                kind.reject(row=row, reason=reason, actor=actor, request=request)
            elif status == "rejected":
                raise Outcome(422, "business-rule", "rejecting needs statusReason.text")
            else:
                raise Outcome(
                    422, "business-rule", f"a Task may be completed or rejected, not {status}"
                )
        except services.RuleBroken as exc:
            raise Outcome(422, "business-rule", f"rule: {exc.rule}") from exc
        _audit(
            request, token, "fhir.update", obj=row, patient=row.patient, details={"status": status}
        )
    data = kind.resource(_task(request, kind, pk))
    return fhir_response(data, headers=etag(data))


task_type = _by_method("task_type", get=task_search)
task_instance = _by_method("task_instance", get=task_read, put=task_update)
