import json
from functools import cache

from django.db import connections, router
from django.utils import timezone

from portal.audit.models import AuditEvent
from portal.core.http import client_ip

# Keys that must never be written to the audit log, whatever a caller passes.
_FORBIDDEN_DETAIL_KEYS = {"password", "token", "code", "otp", "secret", "passcode"}


def audit_record(
    *,
    action: str,
    clinic=None,
    actor=None,
    request=None,
    obj=None,
    acting_for=None,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event to the audit log, in the caller's transaction.

    ``request`` supplies the actor (when signed in), the clinic and the IP when they are
    not given. Secrets are refused: a detail key naming a password, code or token raises.
    """
    event = _event(
        action=action,
        clinic=clinic,
        actor=actor,
        request=request,
        obj=obj,
        acting_for=acting_for,
        details=details,
    )
    event.save(force_insert=True)
    return event


def audit_read(
    *,
    action: str,
    clinic=None,
    actor=None,
    request=None,
    obj=None,
    acting_for=None,
    details: dict | None = None,
) -> None:
    """``audit_record`` for the events written on every view of a page (a read of the
    health record): the same row, in the caller's transaction, appended with one INSERT
    that reads nothing back. The ORM's save costs about 0.4 ms of CPU more, on every view
    (bench/README.md); the statement is made from the model's columns, and a test
    compares its row with ``audit_record``'s on each database."""
    event = _event_fields(
        action=action,
        clinic=clinic,
        actor=actor,
        request=request,
        obj=obj,
        acting_for=acting_for,
        details=details,
    )
    _check_related(event)
    connection = connections[router.db_for_write(AuditEvent)]
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_statement(connection.alias),
            [
                _pk(event["clinic"]),
                connection.ops.adapt_datetimefield_value(timezone.now()),
                _pk(event["actor"]),
                event["actor_label"],
                _pk(event["acting_for"]),
                event["action"],
                event["object_type"],
                event["object_id"],
                event["ip"],
                json.dumps(event["details"]),
            ],
        )


def _pk(obj):
    return obj.pk if obj is not None else None


def _check_related(event: dict) -> None:
    """What the model's save refuses, refused here too: an object of another model
    (an anonymous user as actor, an account as the chart acted for)."""
    for name in ("clinic", "actor", "acting_for"):
        value = event[name]
        model = AuditEvent._meta.get_field(name).remote_field.model
        if value is not None and not isinstance(value, model):
            raise ValueError(f"audit {name} must be a {model.__name__}, not {value!r}")


_READ_COLUMNS = (
    "clinic",
    "created_at",
    "actor",
    "actor_label",
    "acting_for",
    "action",
    "object_type",
    "object_id",
    "ip",
    "details",
)


@cache
def _insert_statement(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = AuditEvent._meta
    columns = [meta.get_field(name).column for name in _READ_COLUMNS]
    missing = {f.column for f in meta.concrete_fields if not f.primary_key} - set(columns)
    if missing:  # a column added to the model must be written here too
        raise RuntimeError(f"audit_read does not write {sorted(missing)}")
    return "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - quoted names of the model, values as parameters
        quote(meta.db_table),
        ", ".join(quote(column) for column in columns),
        ", ".join(["%s"] * len(columns)),
    )


def audit_record_each(
    *,
    action: str,
    objs,
    clinic=None,
    actor=None,
    request=None,
    for_each_chart: bool = False,
    details: dict | None = None,
) -> list[AuditEvent]:
    """One event per object of ``objs``, as ``audit_record`` appends them one at a time,
    in a single insert (an import of a thousand charts). ``for_each_chart``: each object
    is a chart, and its event acts for it."""
    events = [
        _event(
            action=action,
            clinic=clinic,
            actor=actor,
            request=request,
            obj=obj,
            acting_for=obj if for_each_chart else None,
            details=details,
        )
        for obj in objs
    ]
    return AuditEvent.objects.bulk_create(events)


def _event(**fields) -> AuditEvent:
    return AuditEvent(**_event_fields(**fields))


def _event_fields(*, action, clinic, actor, request, obj, acting_for, details) -> dict:
    """An event's fields (``audit_read`` writes them without making a model instance)."""
    details = details or {}
    bad = {k for k in details if k.lower() in _FORBIDDEN_DETAIL_KEYS}
    if bad:
        raise ValueError(f"audit details may not carry secrets: {sorted(bad)}")
    if request is not None:
        if clinic is None:
            clinic = getattr(request, "clinic", None)
        if actor is None:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                actor = user
    return {
        "clinic": clinic,
        "actor": actor,
        "actor_label": str(actor) if actor is not None else "",
        "acting_for": acting_for,
        "action": action,
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None else "",
        "ip": (client_ip(request) or None) if request is not None else None,
        "details": details,
    }
