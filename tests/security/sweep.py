"""The object-id sweep: find every URL of a clinic's host that names a row, and probe it.

Discovery walks ``portal.urls_clinic`` (the portal, its included apps and the clinic
admin) and keeps every pattern with a parameter that names a row (``pk``, ``id``,
``object_id``, ``*_id``, ``*_pk``). A parameter that is neither such an id nor one of
the few known non-id parameters (tokens from emailed links, the admin's app label and
catch-all) is a problem: the sweep cannot tell what it names.

Each id route is mapped to the model its id names:
- clinic admin: the model of the ModelAdmin whose URLs include the pattern (from
  ``clinic_admin_site._registry``); other id parameters of an admin come from
  ``ADMIN_OBJECT_BY_PARAM``; the admin's "view on site" shortcut is expanded to every
  registered model;
- portal: ``PORTAL_OBJECT_BY_VIEW`` for the view, else ``PORTAL_OBJECT_BY_MODULE`` for
  the view's module.
A route whose model has no mapping, or whose model the fixture world cannot build, is a
problem too. Problems fail the sweep; nothing is skipped.
"""

import re
from dataclasses import dataclass
from urllib.parse import quote

from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLResolver, get_resolver

from clinics.admin_site import clinic_admin_site

CLINIC_URLCONF = "portal.urls_clinic"

# An id no row of any model has (the test database is small and fresh).
MISSING_ID = 987654321

# Parameters that are not row ids, and why.
NON_OBJECT_PARAMS = {
    "token": "a secret from an emailed link (invitation or password reset)",
    "uidb64": "the account half of a password-reset link, checked with its token",
    "app_label": "the admin's per-app index",
    "url": "the admin's catch-all (redirects or 404s)",
}

# The model a portal URL's id names, by the view's module ...
PORTAL_OBJECT_BY_MODULE = {
    "appointments.views": "appointments.appointment",
    "messaging.views": "messaging.thread",
    "patients.views_information": "patients.changerequest",
}
# ... unless the view is listed here.
PORTAL_OBJECT_BY_VIEW = {
    "messaging.views.attachment_download": "messaging.attachment",
    "appointments.views.request_withdraw": "appointments.appointmentrequest",
    "records.views_chart.document_download": "records.document",
    "records.views_chart.medication_refill": "records.medication",
}
# Id parameters of an admin's own URLs that name something other than the admin's model.
ADMIN_OBJECT_BY_PARAM = {
    ("messaging.thread", "attachment_id"): "messaging.attachment",
    # A representative's live grant (a revoked one has no scopes page).
    ("patients.patient", "grant_id"): "patients.patientaccess#live",
}
VIEW_ON_SITE = "django.contrib.contenttypes.views.shortcut"

# The FHIR API answers bearer tokens, not sessions: its id URLs are swept with tokens
# (tests/security/test_api_sweep.py), each mapped here to the model its id names.
API_PREFIX = "fhir/R4/"
API_OBJECT_BY_VIEW = {
    "fhir_api.views.patient_instance": "patients.patient",
    "fhir_api.views.practitioner_instance": "appointments.provider",
    "fhir_api.views.schedule_instance": "appointments.provider",
    "fhir_api.views.appointment_instance": "appointments.appointment",
    "fhir_api.views.related_person_instance": "patients.patientaccess",
    "fhir_api.views.communication_instance": "messaging.message",
    "fhir_api.health_record.observation_instance": "records.observation",
    "fhir_api.health_record.diagnosticreport_instance": "records.diagnosticreport",
    "fhir_api.health_record.medicationrequest_instance": "records.medication",
    # A MedicationStatement is a row of the same table: the world's statement row.
    "fhir_api.health_record.medicationstatement_instance": "records.medication#statement",
    "fhir_api.health_record.allergyintolerance_instance": "records.allergyintolerance",
    "fhir_api.health_record.immunization_instance": "records.immunization",
    "fhir_api.health_record.documentreference_instance": "records.document",
}
# ... or, for a view that serves several models (a Task of each kind), by its route.
API_OBJECT_BY_ROUTE = {
    "fhir/R4/Task/cr-<int:pk>": "patients.changerequest",
    "fhir/R4/Task/ar-<int:pk>": "appointments.appointmentrequest",
    "fhir/R4/Task/rr-<int:pk>": "records.refillrequest",
}

_PARAM_RE = re.compile(r"<(?:[^>:]+:)?([^>]+)>")
_REGEX_GROUP_RE = re.compile(r"\(\?P<([^>]+)>[^)]*\)")


def is_object_param(name: str) -> bool:
    return name in ("pk", "id", "object_id") or name.endswith(("_id", "_pk"))


@dataclass(frozen=True)
class Route:
    route: str  # as written in the URLconf, e.g. "portal/messages/<int:pk>/"
    params: tuple[str, ...]
    view: str  # dotted path of the view callable
    module: str
    in_admin: bool
    admin_model: str | None  # label of the ModelAdmin's model whose URLs include it

    def url(self, values: dict) -> str:
        path = _REGEX_GROUP_RE.sub(lambda m: str(values[m.group(1)]), self.route)
        path = _PARAM_RE.sub(lambda m: str(values[m.group(1)]), path)
        return "/" + path.replace("^", "").replace("$", "")

    @property
    def id_params(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if is_object_param(p))

    @property
    def in_api(self) -> bool:
        return self.route.startswith(API_PREFIX)


def _params(entry) -> tuple[str, ...]:
    pattern = entry.pattern
    converters = getattr(pattern, "converters", None)
    if converters:
        return tuple(converters)
    regex = getattr(pattern, "regex", None)
    return tuple(regex.groupindex) if regex is not None else ()


def _walk(resolver, prefix, params, in_admin, admin_model, admin_prefixes):
    for entry in resolver.url_patterns:
        entry_params = params + _params(entry)
        if isinstance(entry, URLResolver):
            part = str(entry.pattern)
            nested_admin = in_admin or entry.namespace == clinic_admin_site.name
            model = admin_prefixes.get(part, admin_model) if nested_admin else admin_model
            yield from _walk(
                entry, prefix + part, entry_params, nested_admin, model, admin_prefixes
            )
            continue
        callback = entry.callback
        module = getattr(callback, "__module__", "")
        qualname = getattr(callback, "__qualname__", getattr(callback, "__name__", ""))
        yield Route(
            route=prefix + str(entry.pattern),
            params=entry_params,
            view=f"{module}.{qualname}",
            module=module,
            in_admin=in_admin,
            admin_model=admin_model,
        )


def all_routes() -> list[Route]:
    admin_prefixes = {
        f"{model._meta.app_label}/{model._meta.model_name}/": model._meta.label_lower
        for model in clinic_admin_site._registry
    }
    resolver = get_resolver(CLINIC_URLCONF)
    return list(_walk(resolver, "", (), False, None, admin_prefixes))


def unclassified_params(routes) -> list[str]:
    """Parameters the sweep cannot classify: neither a row id nor a known non-id."""
    return [
        f"{r.route}: parameter {p!r} (view {r.view})"
        for r in routes
        for p in r.params
        if not is_object_param(p) and p not in NON_OBJECT_PARAMS
    ]


@dataclass(frozen=True)
class Target:
    """One URL to probe: the victim's row and, for comparison, an id that exists nowhere."""

    route: Route
    models: tuple[str, ...]
    victim_url: str
    missing_url: str

    @property
    def label(self):
        return f"{self.victim_url} ({self.route.view} → {', '.join(self.models)})"


def _model_for(route: Route, param: str) -> str | None:
    if route.in_api:
        return API_OBJECT_BY_ROUTE.get(route.route) or API_OBJECT_BY_VIEW.get(route.view)
    if route.in_admin:
        if route.admin_model and param == "object_id":
            return route.admin_model
        return ADMIN_OBJECT_BY_PARAM.get((route.admin_model, param))
    return PORTAL_OBJECT_BY_VIEW.get(route.view) or PORTAL_OBJECT_BY_MODULE.get(route.module)


def plan(routes, world: dict) -> tuple[list[Target], list[str]]:
    """Every id route as targets built from ``world`` (model label → the victim's row),
    and the problems that keep a route from being swept."""
    targets, problems = [], []
    for route in routes:
        id_params = route.id_params
        if not id_params:
            continue
        if route.view == VIEW_ON_SITE:
            for model in clinic_admin_site._registry:
                label = model._meta.label_lower
                if label not in world:
                    problems.append(f"{route.route}: no {label} in the sweep's world")
                    continue
                content_type = ContentType.objects.get_for_model(model).pk
                targets.append(
                    Target(
                        route,
                        (label,),
                        route.url({"content_type_id": content_type, "object_id": world[label].pk}),
                        route.url({"content_type_id": content_type, "object_id": MISSING_ID}),
                    )
                )
            continue
        models = {}
        for param in id_params:
            label = _model_for(route, param)
            if label is None:
                problems.append(
                    f"{route.route}: nothing says which model {param!r} names (view "
                    f"{route.view}); add it to tests/security/sweep.py"
                )
            elif label not in world:
                problems.append(
                    f"{route.route}: the sweep's world has no {label}; add a builder to "
                    "tests/security/conftest.py"
                )
            else:
                models[param] = label
        if len(models) != len(id_params):
            continue
        non_ids = [p for p in route.params if p not in id_params]
        if non_ids:
            problems.append(f"{route.route}: mixes ids with {non_ids}; teach the sweep")
            continue
        targets.append(
            Target(
                route,
                tuple(models.values()),
                route.url({p: world[label].pk for p, label in models.items()}),
                route.url(dict.fromkeys(models, MISSING_ID)),
            )
        )
    return targets, problems


# --- Probing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    name: str
    client: Client
    scope: str  # "portal", "admin" or "both"

    def probes(self, route: Route) -> bool:
        return self.scope == "both" or (self.scope == "admin") == route.in_admin


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    body: bytes

    def shape(self, url):
        """What a person learns from the answer, with the requested URL taken out (as
        written, and as the sign-in page's ``?next=`` carries it)."""
        location = self.location.replace(quote(url, safe=""), "<url>")
        return (self.status, location.replace(url, "<url>"))

    def __str__(self):
        return f"{self.status}{' → ' + self.location if self.location else ''}"


# Data sent with every POST: enough that a leaking view would act (post a reply,
# cancel, decide, delete after the admin's confirmation) and the snapshot would change.
POST_DATA = {
    "body": "probe",
    "subject": "probe",
    "category": "general",
    "reason": "probe",
    "confirm": "1",
    "decision": "decline",
    "channel": "email",
    "name": "Probe",
    "relationship": "spouse",
    "contact": "probe@example.com",
    "terms": "on",
    "post": "yes",
}


def ask(client: Client, method: str, url: str) -> Answer:
    response = client.get(url) if method == "GET" else client.post(url, POST_DATA)
    if response.streaming:
        body = b"".join(response.streaming_content)
        response.close()
    else:
        body = response.content
    return Answer(response.status_code, response.get("Location", ""), body)


def is_sign_in(route: Route, location: str) -> bool:
    if route.in_admin:
        return location.startswith("/admin/login/?next=")
    # Sign-in, asked to come back to the page afterwards (patients.returns).
    return location == "/portal/" or location.startswith("/portal/?next=")


def judge(target: Target, answer: Answer, missing: Answer, secret: bytes):
    """None when the answer is acceptable, else what is wrong with it.

    Acceptable: 404; or, when the view answers before it looks anything up, exactly
    what an id that exists nowhere gets (same status, same redirect) and one of: a
    redirect to sign-in, 403, 405, or the admin's ``<id>/`` → ``<id>/change/`` redirect.
    """
    if secret in answer.body:
        return f"the page shows the victim's name ({answer})"
    if answer.status == 404:
        return None
    if answer.shape(target.victim_url) != missing.shape(target.missing_url):
        return f"answered {answer}, but an id that exists nowhere gets {missing}"
    if answer.status in (403, 405):
        return None
    if answer.status in (301, 302):
        location = answer.location.replace(target.victim_url, "<url>")
        if is_sign_in(target.route, location) or location == "<url>change/":
            return None
        return f"redirects to {answer.location}"
    return f"answered {answer}"
