"""Invitations sent before contacts were canonical: their destination becomes the
canonical form (portal.core.identifiers), so that accepting one finds the account that
has the contact. A destination that cannot be canonicalised is left (the link still
works; accepting it makes no account with a look-alike) and reported by id."""

from django.db import migrations

from portal.core.identifiers import InvalidIdentifier, canonical_email, canonical_mobile


def forwards(apps, schema_editor):
    Invitation = apps.get_model("invitations", "Invitation")
    report = []
    changed = []
    for invitation in Invitation.objects.select_related("clinic").iterator(chunk_size=2000):
        try:
            if invitation.channel == "email":
                value = canonical_email(invitation.destination)
            else:
                value = canonical_mobile(invitation.destination, invitation.clinic.country)
        except InvalidIdentifier:
            report.append(f"invitation id={invitation.pk}: cannot be canonicalised")
            continue
        if value != invitation.destination:
            invitation.destination = value
            changed.append(invitation)
    Invitation.objects.bulk_update(changed, ["destination"], batch_size=500)
    if report:
        print("\nCanonical identifiers: rows to resolve by hand:")  # noqa: T201
        for line in report:
            print(f"  {line}")  # noqa: T201


class Migration(migrations.Migration):
    dependencies = [("invitations", "0001_initial"), ("clinics", "0005_user_email_canonical")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
