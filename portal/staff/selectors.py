from axes.attempts import get_cool_off_threshold
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Case, CharField, Exists, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Cast, Concat
from django_otp.plugins.otp_totp.models import TOTPDevice


class _Now:
    """The cool-off window counted back from now (no sign-in request at hand)."""

    axes_attempt_time = None


def with_security_state(queryset):
    """Annotate each account with ``signin_failures`` (within the cool-off window) and
    ``has_authenticator``: two subqueries, so a list stays at a fixed query count.
    The key is ``clinics.staff_signin.account_throttle_key``, built in SQL."""
    pk = Cast("pk", CharField())
    key = Case(
        When(clinic__isnull=True, then=Concat(Value("platform:user:"), pk)),
        default=Concat(Value("clinic:"), Cast("clinic_id", CharField()), Value(":user:"), pk),
        output_field=CharField(),
    )
    failures = (
        AccessAttempt.objects.filter(
            username=OuterRef("throttle_key"),
            attempt_time__gte=get_cool_off_threshold(_Now),
        )
        .values("username")
        .annotate(total=Sum("failures_since_start"))
        .values("total")
    )
    return queryset.annotate(
        throttle_key=key,
        signin_failures=Subquery(failures),
        has_authenticator=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
    )


def signin_locked(member) -> bool:
    """For a row from ``with_security_state``."""
    return (member.signin_failures or 0) >= settings.AXES_FAILURE_LIMIT
