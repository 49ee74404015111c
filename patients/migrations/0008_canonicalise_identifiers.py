"""Rewrite stored emails and ID numbers in their canonical form (portal.core.identifiers).

Rows whose canonical form would collide with another row's (two accounts of a clinic
whose emails differ only in case, two charts' IDs that differ only in spacing or in
full-width digits) are NOT merged: they are left as they were and reported, by table and
row id (no personal data), for staff to resolve. Values that cannot be canonicalised
(a look-alike letter) are left and reported the same way. Run it again after resolving:
it is idempotent.
"""

from collections import defaultdict

from django.db import migrations

from portal.core.identifiers import InvalidIdentifier, canonical_email, canonical_id_number


def _canonicalise(rows, field, canonical, scope, report, label):
    """rows: model instances; scope(row) -> the uniqueness scope, or None (not unique)."""
    groups = defaultdict(list)
    for row in rows:
        value = getattr(row, field)
        if not value:
            continue
        try:
            groups[(scope(row), canonical(value))].append(row)
        except InvalidIdentifier:
            report.append(f"{label} id={row.pk}: cannot be canonicalised (left as it is)")
    changed = []
    for (key_scope, value), members in groups.items():
        if key_scope is not None and len(members) > 1:
            ids = ", ".join(str(m.pk) for m in sorted(members, key=lambda m: m.pk))
            report.append(f"{label} ids={ids}: the same once canonical (left as they are)")
            continue
        for row in members:
            if getattr(row, field) != value:
                setattr(row, field, value)
                changed.append(row)
    return changed


def forwards(apps, schema_editor):
    User = apps.get_model("clinics", "User")
    Patient = apps.get_model("patients", "Patient")
    PatientIdentifier = apps.get_model("patients", "PatientIdentifier")
    report = []

    users = list(User.objects.exclude(email="").only("pk", "clinic_id", "email"))
    changed = _canonicalise(
        users, "email", canonical_email, lambda u: ("clinic", u.clinic_id), report, "user email"
    )
    User.objects.bulk_update(changed, ["email"], batch_size=500)

    charts = Patient.objects.exclude(email="").only("pk", "email").iterator(chunk_size=2000)
    changed = _canonicalise(charts, "email", canonical_email, lambda p: None, report, "chart email")
    Patient.objects.bulk_update(changed, ["email"], batch_size=500)

    identifiers = list(PatientIdentifier.objects.only("pk", "clinic_id", "id_type_id", "number"))
    changed = _canonicalise(
        identifiers,
        "number",
        canonical_id_number,
        lambda i: (i.clinic_id, i.id_type_id),
        report,
        "identifier",
    )
    PatientIdentifier.objects.bulk_update(changed, ["number"], batch_size=500)

    if report:
        print("\nCanonical identifiers: rows to resolve by hand:")  # noqa: T201
        for line in report:
            print(f"  {line}")  # noqa: T201


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0005_user_email_canonical"),
        ("patients", "0007_canonical_fields_proofs_lock_reason"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
