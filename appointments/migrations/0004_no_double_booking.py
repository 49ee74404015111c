"""No two active appointments of one provider may overlap.

On PostgreSQL this is an exclusion constraint over the provider's active time ranges
(btree_gist lets the provider id share the GiST index with the range). SQLite has no
such constraint; there the portal serialises write transactions instead (settings:
transaction_mode IMMEDIATE) and the booking service checks inside its transaction.
"""

from django.db import migrations

CONSTRAINT = "appointment_no_overlap_per_provider"


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    schema_editor.execute(
        f"ALTER TABLE appointments_appointment ADD CONSTRAINT {CONSTRAINT} "
        "EXCLUDE USING gist (provider_id WITH =, tstzrange(start, \"end\", '[)') WITH &&) "
        "WHERE (status <> 'cancelled')"
    )


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE appointments_appointment DROP CONSTRAINT IF EXISTS {CONSTRAINT}"
    )


class Migration(migrations.Migration):
    dependencies = [("appointments", "0003_scheduling")]

    operations = [migrations.RunPython(add_constraint, drop_constraint)]
