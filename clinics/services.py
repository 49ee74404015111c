from django.db import transaction

from clinics.models import DEFAULT_ID_TYPES, Clinic, IdentifierType, PortalSettings, User
from clinics.roles import CLINIC_ADMIN, FRONT_DESK, role_group
from clinics.terms import terms_ensure_default


@transaction.atomic
def clinic_ensure_defaults(*, clinic: Clinic) -> PortalSettings:
    """Give a clinic its portal settings and default ID types. Idempotent."""
    settings_row, _ = PortalSettings.objects.get_or_create(clinic=clinic)
    if not IdentifierType.objects.for_clinic(clinic).exists():
        IdentifierType.objects.bulk_create(
            IdentifierType(clinic=clinic, code=code, label=str(label), sort_order=i)
            for i, (code, label) in enumerate(DEFAULT_ID_TYPES)
        )
    if settings_row.terms_version == 0:
        terms_ensure_default(clinic=clinic)
        settings_row.refresh_from_db(fields=["terms_version"])
    return settings_row


@transaction.atomic
def staff_member_create(
    *, clinic: Clinic, username: str, password: str, role: str, email: str = "", **fields
) -> User:
    """Create a staff account of ``clinic`` in one of the two roles; ValidationError
    without a clinic (``User.validate_staff_clinic``)."""
    if role not in (FRONT_DESK, CLINIC_ADMIN):
        raise ValueError(f"unknown role {role!r}")
    User(clinic=clinic, is_staff=True, is_superuser=False).validate_staff_clinic()
    user = User.objects.create_user(
        username=username, email=email, password=password, clinic=clinic, is_staff=True, **fields
    )
    user.groups.add(role_group(role))
    return user
