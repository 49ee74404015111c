"""Staff accounts locked out of sign-in, on the front desk's work screen
(``clinics.workboard``); a clinic admin unlocks them from the staff list."""

from axes.attempts import get_cool_off_threshold
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Count, Min, Sum
from django.utils.translation import gettext_lazy as _

from clinics import workboard
from portal.staff.selectors import _Now


def locked_staff_accounts(*, clinic, now):
    """Accounts of ``clinic`` with the failure limit reached inside the cool-off window;
    one query (the attempts grouped per account, counted)."""
    per_account = (
        AccessAttempt.objects.filter(
            username__startswith=f"clinic:{clinic.pk}:user:",
            attempt_time__gte=get_cool_off_threshold(_Now),
        )
        .values("username")
        .annotate(total=Sum("failures_since_start"), first=Min("attempt_time"))
        .filter(total__gte=settings.AXES_FAILURE_LIMIT)
    )
    values = per_account.aggregate(count=Count("username"), since=Min("first"))
    return workboard.Tally(values["count"], values["since"])


def register_items():
    workboard.register(
        "staff.locked_accounts",
        order=70,
        label=_("Locked staff accounts"),
        loader=locked_staff_accounts,
        url="admin:staff_staffmember_changelist",
        permission="staff.view_staffmember",
    )
