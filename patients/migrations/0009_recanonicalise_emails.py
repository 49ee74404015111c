"""Stored emails again in their canonical form (portal.core.identifiers), whose email
rules became stricter after 0008.

An address typed with a trailing ideographic full stop (``example.com。``, ``｡``) was
stored with a trailing dot (``example.com.``) and is now stored without one, like one
typed with ``.`` or none. Addresses the rules now refuse (a comment, quote or other
RFC 5322 special before the @, a dot first, last or twice there; a combining mark on an
ASCII character of the domain, a character IDNA would drop, an accented look-alike
letter) are left as they are and reported by table and row id, as are rows that would
collide with another row once canonical: the same code as 0008, for emails only. Run it
again after resolving: it is idempotent.
"""

import importlib

from django.db import migrations

from portal.core.identifiers import canonical_email

_canonicalise = importlib.import_module(
    "patients.migrations.0008_canonicalise_identifiers"
)._canonicalise


def forwards(apps, schema_editor):
    User = apps.get_model("clinics", "User")
    Patient = apps.get_model("patients", "Patient")
    report = []

    users = list(User.objects.exclude(email="").only("pk", "clinic_id", "email"))
    changed = _canonicalise(
        users, "email", canonical_email, lambda u: ("clinic", u.clinic_id), report, "user email"
    )
    User.objects.bulk_update(changed, ["email"], batch_size=500)

    charts = Patient.objects.exclude(email="").only("pk", "email").iterator(chunk_size=2000)
    changed = _canonicalise(charts, "email", canonical_email, lambda p: None, report, "chart email")
    Patient.objects.bulk_update(changed, ["email"], batch_size=500)

    if report:
        print("\nCanonical emails: rows to resolve by hand:")  # noqa: T201
        for line in report:
            print(f"  {line}")  # noqa: T201


class Migration(migrations.Migration):
    dependencies = [("patients", "0008_canonicalise_identifiers")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
