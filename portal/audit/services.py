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


def _event(*, action, clinic, actor, request, obj, acting_for, details) -> AuditEvent:
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
    return AuditEvent(
        clinic=clinic,
        actor=actor,
        actor_label=str(actor) if actor is not None else "",
        acting_for=acting_for,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        ip=(client_ip(request) or None) if request is not None else None,
        details=details,
    )
