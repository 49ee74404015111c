"""Give a staff member an authenticator (TOTP) device and show its QR code once."""

import segno
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import User


class Command(BaseCommand):
    help = "Enrol an authenticator app for a staff member (use '-' as the clinic for operators)."

    def add_arguments(self, parser):
        parser.add_argument("clinic", help="the clinic's slug, or - for a platform operator")
        parser.add_argument("username")
        parser.add_argument(
            "--replace", action="store_true", help="remove the user's existing authenticators"
        )

    def handle(self, *args, clinic, username, replace, **options):
        users = User.objects.filter(username=username, is_staff=True)
        users = (
            users.filter(clinic__isnull=True)
            if clinic == "-"
            else users.filter(clinic__slug=clinic)
        )
        user = users.first()
        if user is None:
            raise CommandError("No staff member with that username at that clinic.")
        devices = TOTPDevice.objects.devices_for_user(user)
        if devices.exists() and not replace:
            raise CommandError("This user already has an authenticator; pass --replace.")
        devices.delete()
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
        self.stdout.write("Scan this with the authenticator app (shown once):\n")
        segno.make(device.config_url, error="m").terminal(out=self.stdout, compact=True)
        self.stdout.write(f"\nOr enter this URL: {device.config_url}\n")
