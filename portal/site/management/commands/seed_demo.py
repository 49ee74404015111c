"""Demo data for `make run`. Idempotent: running it again changes nothing.

Development credentials only (listed in the README); never run in production.
"""

import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from appointments.demo import seed_demo_appointments
from appointments.models import Provider
from clinics.models import Clinic, IdentifierType, User
from clinics.roles import CLINIC_ADMIN, FRONT_DESK
from clinics.services import clinic_ensure_defaults, staff_member_create
from messaging.demo import seed_demo_messages
from patients.models import Patient, PatientAccess, PatientIdentifier

DEMO_PASSWORD = "demo-portal-2026"

CLINICS = [
    {
        "slug": "demo",
        "name": "Demo Family Clinic",
        "phone": "+1 613 555 0100",
        "address": "100 Bank Street, Ottawa ON K1P 5N2",
        "accent_colour": "#1d6fa5",
        "providers": [
            ("Dr. Amara Osei", "Family physician"),
            ("Dr. Luc Tremblay", "Family physician"),
            ("Nadia Haddad", "Nurse practitioner"),
        ],
        "patients": [
            (
                "Olivia",
                "Martin",
                datetime.date(1958, 3, 14),
                "F",
                "olivia@example.com",
                "+16135550111",
                "1234567890",
            ),
            (
                "Noah",
                "Roy",
                datetime.date(1990, 7, 2),
                "M",
                "noah@example.com",
                "+16135550112",
                "2345678901",
            ),
            ("Emma", "Roy", datetime.date(2016, 11, 20), "F", "", "", "3456789012"),
        ],
    },
    {
        "slug": "northside",
        "name": "Northside Health Centre",
        "phone": "+1 613 555 0200",
        "accent_colour": "#2e7d32",
        "providers": [("Dr. Sofia Novak", "Family physician"), ("Dr. Omar Farah", "Pediatrician")],
        "patients": [
            (
                "William",
                "Gagnon",
                datetime.date(1947, 1, 5),
                "M",
                "william@example.com",
                "+16135550211",
                "4567890123",
            ),
            (
                "Chloe",
                "Bouchard",
                datetime.date(1985, 9, 30),
                "F",
                "chloe@example.com",
                "+16135550212",
                "5678901234",
            ),
        ],
    },
]


class Command(BaseCommand):
    help = "Create the demo clinics, staff, providers and patients (idempotent, development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates known passwords; it runs only with DEBUG on.")
        with transaction.atomic():
            for spec in CLINICS:
                self._seed_clinic(spec)
            if not User.objects.filter(clinic__isnull=True, username="operator").exists():
                User.objects.create_superuser("operator", "operator@example.com", DEMO_PASSWORD)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _seed_clinic(self, spec):
        clinic, _ = Clinic.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "phone": spec["phone"],
                "address": spec.get("address", ""),
                "accent_colour": spec["accent_colour"],
                "notification_email": f"frontdesk@{spec['slug']}.example.com",
            },
        )
        clinic_ensure_defaults(clinic=clinic)
        for role, username in ((CLINIC_ADMIN, "admin"), (FRONT_DESK, "frontdesk")):
            if not User.objects.filter(clinic=clinic, username=username).exists():
                staff_member_create(
                    clinic=clinic,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    email=f"{username}@{clinic.slug}.example.com",
                    first_name=role.split()[0].title(),
                    last_name=clinic.name.split()[0],
                )
        providers = [
            Provider.objects.get_or_create(clinic=clinic, name=name, defaults={"title": title})[0]
            for name, title in spec["providers"]
        ]
        health_card = IdentifierType.objects.for_clinic(clinic).get(code="health-card")
        for i, (first, last, dob, sex, email, mobile, card) in enumerate(spec["patients"]):
            identifier = (
                PatientIdentifier.objects.for_clinic(clinic)
                .filter(id_type=health_card, number=card)
                .first()
            )
            if identifier:
                continue
            patient = Patient.objects.create(
                clinic=clinic,
                first_name=first,
                last_name=last,
                date_of_birth=dob,
                sex=sex,
                email=email,
                mobile=mobile,
                address_line1=f"{10 + i} Main Street",
                city="Ottawa",
                region="ON",
                postal_code="K1A 0B1",
                primary_provider=providers[i % len(providers)],
            )
            PatientIdentifier.objects.create(
                clinic=clinic, patient=patient, id_type=health_card, number=card
            )
        self._seed_portal_account(clinic, spec["patients"][0])
        seed_demo_appointments(clinic)
        seed_demo_messages(clinic)

    def _seed_portal_account(self, clinic, patient_spec):
        """The first demo patient already uses the portal, with a password."""
        first, last, *_rest, email, _mobile, card = patient_spec
        if User.objects.filter(clinic=clinic, email=email).exists():
            return
        patient = PatientIdentifier.objects.for_clinic(clinic).get(number=card).patient
        user = User.objects.create_user(
            username=f"p-demo-{clinic.slug}",
            email=email,
            password=DEMO_PASSWORD,
            clinic=clinic,
            first_name=first,
            last_name=last,
        )
        PatientAccess.objects.create(clinic=clinic, user=user, patient=patient)
