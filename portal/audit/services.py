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
    return AuditEvent.objects.create(
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
