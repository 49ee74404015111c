"""Indexes for finding a chart among a million: by name or email, and by ID number.

Name and email searches are ``icontains`` (``UPPER(col) LIKE UPPER('%term%')``), which
no B-tree can serve; trigram GIN indexes on the same expressions can (pg_trgm).
Identifiers are stored normalised, so an ID search is an equality on ``number`` within the
clinic; the unique (clinic, ID type, number) index has ``number`` last and cannot serve it.

PostgreSQL only (pg_trgm); SQLite migrates without them. Measured with bench/scale.py.
"""

from django.db import migrations

INDEXES = {
    "patient_last_name_trgm": (
        "patients_patient USING gin (UPPER(last_name) gin_trgm_ops)"
    ),
    "patient_first_name_trgm": (
        "patients_patient USING gin (UPPER(first_name) gin_trgm_ops)"
    ),
    "patient_email_trgm": "patients_patient USING gin (UPPER(email) gin_trgm_ops)",
    "identifier_clinic_number": "patients_patientidentifier (clinic_id, number)",
}


def add_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, target in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("patients", "0004_patient_requests")]

    operations = [migrations.RunPython(add_indexes, drop_indexes)]
