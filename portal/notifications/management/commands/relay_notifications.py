from django.core.management.base import BaseCommand

from portal.notifications.tasks import notifications_relay


class Command(BaseCommand):
    help = "Queue notifications left pending (what the periodic relay does each minute)."

    def handle(self, *args, **options):
        count = notifications_relay()
        self.stdout.write(f"queued {count} pending notification(s)")
