"""Staff may book over a conflict on purpose (``conflict_override``): the provider's
exclusion constraint (0004) leaves those rows out, so a deliberate double booking can be
stored while every other pair of active visits of one provider still may not overlap.
"""

from django.db import migrations, models

CONSTRAINT = "appointment_no_overlap_per_provider"


def _replace_constraint(schema_editor, predicate):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE appointments_appointment DROP CONSTRAINT {CONSTRAINT}")
    schema_editor.execute(
        f"ALTER TABLE appointments_appointment ADD CONSTRAINT {CONSTRAINT} "
        "EXCLUDE USING gist (provider_id WITH =, tstzrange(start, \"end\", '[)') WITH &&) "
        f"WHERE ({predicate})"
    )


def exempt_overrides(apps, schema_editor):
    _replace_constraint(schema_editor, "status <> 'cancelled' AND NOT conflict_override")


def cover_every_row(apps, schema_editor):
    _replace_constraint(schema_editor, "status <> 'cancelled'")


class Migration(migrations.Migration):

    dependencies = [
        ('appointments', '0004_no_double_booking'),
    ]

    operations = [
        migrations.AddField(
            model_name='appointment',
            name='conflict_override',
            field=models.BooleanField(default=False, editable=False, help_text='Staff booked it although it overlaps another visit of the patient or provider.', verbose_name='booked over a conflict'),
        ),
        migrations.AlterField(
            model_name='provider',
            name='appointment_types',
            field=models.ManyToManyField(blank=True, help_text='The types of appointment this provider offers. Nothing else can be booked with them, in the portal or here.', related_name='providers', to='appointments.appointmenttype', verbose_name='appointment types'),
        ),
        migrations.RunPython(exempt_overrides, cover_every_row),
    ]
