"""What a patient was typing when the idle timeout signed them out.

A form posted after the timeout cannot be saved (the session has ended), but its text
need not be lost: the timeout keeps the text fields of a form whose view is marked
``@keeps_draft(...)`` (a new message, a reply, a change of details) in the browser's
new, signed-out session, and the same form shows it again once the same account is
signed in again on the same chart.

A draft is

- tied to this browser: it lives only in the session (server-side; the cookie holds
  only the session key), which sign-out and every sign-in of another account end;
- tied to the account and the chart it was typed for: it is shown only to that account,
  on that chart's form, and thrown away when another account signs in on this browser
  (a shared computer);
- short-lived (``DRAFT_FOR_SECONDS``), and shown once.

Attachments are not kept (files are not held for a signed-out browser).
"""

import time

from django.urls import Resolver404, resolve

SESSION_DRAFT = "portal_draft"
DRAFT_FOR_SECONDS = 30 * 60
_FIELD_LIMIT = 20_000


def keeps_draft(*fields):
    """Mark a portal view whose form's ``fields`` outlive an idle timeout."""

    def decorator(view):
        view.draft_fields = fields
        return view

    return decorator


def draft_fields_for(request) -> tuple[str, ...]:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return ()
    return getattr(match.func, "draft_fields", ())


def draft_keep(request, *, user_id: int, patient_id, fields: tuple[str, ...]) -> bool:
    """Keep what this POST typed into ``fields`` in the (new, signed-out) session.
    Returns whether anything was kept."""
    values = {
        name: request.POST.get(name, "")[:_FIELD_LIMIT]
        for name in fields
        if request.POST.get(name, "").strip()
    }
    if not values:
        return False
    request.session[SESSION_DRAFT] = {
        "user": user_id,
        "patient": patient_id,
        "path": request.path,
        "at": time.time(),
        "values": values,
    }
    return True


def draft_forget_unless_for(request, user) -> None:
    """A sign-in: a draft typed by another account is thrown away, unseen."""
    draft = request.session.get(SESSION_DRAFT)
    if draft and draft.get("user") != user.pk:
        request.session.pop(SESSION_DRAFT, None)


def draft_take(request) -> dict | None:
    """The values kept for this page, this account and this chart, once; None else."""
    draft = request.session.get(SESSION_DRAFT)
    if not draft:
        return None
    if time.time() - draft.get("at", 0) > DRAFT_FOR_SECONDS or draft.get("user") != getattr(
        request.user, "pk", None
    ):
        request.session.pop(SESSION_DRAFT, None)
        return None
    patient = getattr(request, "patient", None)
    if draft.get("path") != request.path or draft.get("patient") not in (
        None,
        patient and patient.pk,
    ):
        return None
    request.session.pop(SESSION_DRAFT, None)
    return draft["values"]
