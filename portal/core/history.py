"""Row history (django-simple-history) for the records staff edit, read as changes.

A model opts in with ``history = tracked_history()``; every save and delete then appends a
historical row (who, when, every field), in the same transaction. Bulk ``update()`` sends
no model signal: a queryset that inherits ``portal.core.cache.ReportsUpdates`` reports the
rows it changed (``rows_updated``, with ``pk`` among its ``update_report_fields``), and
``record_bulk_updates`` appends their history from that. Raw SQL is not seen.

On PostgreSQL the historical tables are append-only: a trigger refuses UPDATE and DELETE
(``append_only``, run by each app's migration). ``changes_of`` turns historical rows into
what a person reads: each version against the previous one of the same row, field by
field, old → new.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db import migrations, models
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from phonenumber_field.phonenumber import PhoneNumber
from simple_history.models import HistoricalRecords

from portal.core.cache import drop_on_update
from portal.core.phones import phone_display


def tracked_history(**kwargs) -> HistoricalRecords:
    """``HistoricalRecords`` as the portal keeps them: the author as a plain id (no foreign
    key, so deleting an account never rewrites history)."""
    return HistoricalRecords(
        history_user_id_field=models.BigIntegerField(null=True, blank=True, db_index=False),
        **kwargs,
    )


def _author_of_current_request():
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def record_bulk_updates(model) -> None:
    """Append history for rows of ``model`` changed by ``QuerySet.update()``."""
    drop_on_update(_append_bulk_history, model, uid="history")


def _append_bulk_history(sender, rows, **kwargs):
    sender = sender._meta.concrete_model  # a proxy's update is the model's
    changed = list(sender._base_manager.filter(pk__in={row["pk"] for row in rows}))
    if changed:
        sender.history.bulk_history_create(
            changed, update=True, default_user=_author_of_current_request()
        )


_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION portal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are append-only', TG_TABLE_NAME;
END
$$;
"""


def append_only(table: str) -> migrations.RunPython:
    """A migration operation: on PostgreSQL, UPDATE and DELETE of ``table``'s rows fail."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(_APPEND_ONLY_FUNCTION, params=None)
        schema_editor.execute(
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION portal_append_only()"
        )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f'DROP TRIGGER IF EXISTS "{table}_append_only" ON "{table}"')

    return migrations.RunPython(forwards, backwards)


# --- Reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class Change:
    """One version of one row: who made it, when, and what it changed."""

    when: datetime
    author: str
    kind: str  # "created", "changed" or "deleted"
    subject: str  # what the row is ("ID number", "Appointment", …)
    fields: list[FieldChange] = field(default_factory=list)


_KINDS = {"+": "created", "~": "changed", "-": "deleted"}
_NEVER_SHOWN = {"id", "clinic", "created_at"}


def changes_of(records, *, subject: str, hidden=()) -> list[Change]:
    """The changes recorded in ``records`` (historical rows of one model), newest first.

    A creation lists the values it set; a change the fields that differ from the previous
    version of the same row (a save that changed nothing is left out); a deletion none.
    Related rows are named by their text (fetched once per model), choices by their label.
    """
    records = sorted(records, key=lambda r: (r.history_date, r.history_id))
    if not records:
        return []
    shown = [
        f
        for f in records[0].instance_type._meta.concrete_fields
        if f.name not in _NEVER_SHOWN and f.name not in hidden
    ]
    names = _related_names(records, shown)
    authors = _authors(records)
    previous, changes = {}, []
    for record in records:
        before = previous.get(record.id)
        kind = _KINDS.get(record.history_type, "changed")
        fields = []
        if kind != "deleted":
            for model_field in shown:
                new = _display(record, model_field, names)
                old = _display(before, model_field, names) if before is not None else ""
                if new != old:
                    fields.append(FieldChange(str(model_field.verbose_name), old, new))
        previous[record.id] = record
        if kind == "changed" and not fields:
            continue
        if kind == "created":
            fields = [f for f in fields if f.new]
        author = authors.get(record.history_user_id)
        changes.append(
            Change(
                when=record.history_date,
                author=str(author) if author is not None else _("the portal"),
                kind=kind,
                subject=subject,
                fields=fields,
            )
        )
    return changes[::-1]


def _authors(records):
    ids = {r.history_user_id for r in records if r.history_user_id}
    return get_user_model()._base_manager.in_bulk(ids) if ids else {}


def _related_names(records, fields):
    names = {}
    for model_field in fields:
        if model_field.is_relation:
            ids = {getattr(r, model_field.attname) for r in records} - {None}
            related = model_field.related_model._base_manager.in_bulk(ids) if ids else {}
            names[model_field.name] = {pk: str(row) for pk, row in related.items()}
    return names


def _display(record, model_field, names) -> str:
    value = getattr(record, model_field.attname)
    if value is None or value == "":
        return ""
    if model_field.is_relation:
        return names[model_field.name].get(value, f"#{value}")
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
    if isinstance(value, date):
        return formats.date_format(value, "DATE_FORMAT")
    if isinstance(value, PhoneNumber):
        return phone_display(value)
    return str(value)
