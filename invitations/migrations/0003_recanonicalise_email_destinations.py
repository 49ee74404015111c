"""Invitation destinations again in their canonical form (portal.core.identifiers), whose
email rules became stricter after 0002: an address stored with a trailing dot (typed
with a trailing ``。``) loses it, and one the rules now refuse is left and reported by
id. The same code as 0002 (mobile rules are unchanged); idempotent."""

import importlib

from django.db import migrations

forwards = importlib.import_module("invitations.migrations.0002_canonical_destinations").forwards


class Migration(migrations.Migration):
    dependencies = [("invitations", "0002_canonical_destinations")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
