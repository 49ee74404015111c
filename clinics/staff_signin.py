"""Staff and operator sign-in to the admin: one form, one answer, throttled by django-axes.

The form takes the username, the password and (for an account with a second factor) an
authenticator or backup code together, and gives one generic answer whenever anything is
wrong, so it never confirms a guessed password. The order inside is fixed:

1. the throttle (``axes.backends.AxesStandaloneBackend``, first in
   ``AUTHENTICATION_BACKENDS``): a locked account or source is refused before the
   password is looked at;
2. the password (``clinics.backends.ClinicBackend``);
3. only then the second factor (``match_second_factor``).

Every refusal counts as one failure against the account and the source, whichever step
refused it: counting only wrong passwords would let the lockout itself tell a right
password from a wrong one.

Failures count against the *account* (``throttle_key``: one key per account of the
request's clinic, however its username or email is spelt; an unknown login gets a key of
its own, a keyed hash, so nothing typed into the field is stored) and against the *source*
address. An office behind one address has many staff, so the source may fail more often
(``PORTAL_STAFF_SIGNIN_SOURCE_LIMIT``) than one account (``AXES_FAILURE_LIMIT``).
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_parameters
from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.db.models import Sum
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.backends import account_by_login
from clinics.models import User


def _scope(clinic_id) -> str:
    return f"clinic:{clinic_id}" if clinic_id else "platform"


def account_throttle_key(user) -> str:
    """The key the throttle counts ``user``'s failed sign-ins under."""
    return f"{_scope(user.clinic_id)}:user:{user.pk}"


def throttle_key(request, credentials) -> str:
    """``AXES_USERNAME_CALLABLE``: the key of the account a sign-in attempt names."""
    login = ((credentials or {}).get("username") or "").strip()
    # axes asks several times per attempt: look the account up once.
    known = request.__dict__.setdefault("_staff_throttle_keys", {})
    if login not in known:
        clinic = getattr(request, "clinic", None)
        user = account_by_login(clinic, login)
        if user is not None:
            known[login] = account_throttle_key(user)
        else:
            typed = salted_hmac("clinics.staff_signin.login", login.casefold()).hexdigest()
            known[login] = f"{_scope(clinic.pk if clinic else None)}:login:{typed[:24]}"
    return known[login]


def user_from_throttle_key(key: str, clinic):
    """The account a throttle key names at ``clinic`` (None for an unknown login)."""
    prefix = f"{_scope(clinic.pk if clinic else None)}:user:"
    if not key or not key.startswith(prefix):
        return None
    users = User.objects.for_clinic(clinic) if clinic else User.objects.filter(clinic=None)
    return users.filter(pk=key.removeprefix(prefix)).first()


class StaffSignInThrottle(AxesDatabaseHandler):
    """django-axes' database handler with a looser limit per source than per account.

    ``get_failures`` reports the source's failures scaled to the account limit, so axes'
    one comparison (failures >= ``AXES_FAILURE_LIMIT``) locks a source exactly at
    ``PORTAL_STAFF_SIGNIN_SOURCE_LIMIT``. Sign-ins and sign-outs are in the audit log, so
    axes' access log is not kept.
    """

    def get_failures(self, request, credentials=None) -> int:
        limit = settings.AXES_FAILURE_LIMIT
        source_limit = settings.PORTAL_STAFF_SIGNIN_SOURCE_LIMIT
        counts = [0]
        parameters = get_lockout_parameters(request, credentials)
        for parameter, attempts in zip(
            parameters, self.get_user_attempts(request, credentials), strict=True
        ):
            failures = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            if parameter == "ip_address":
                failures = failures * limit // source_limit
            counts.append(failures)
        return max(counts)

    def user_logged_in(self, sender, request, user, **kwargs):
        return None

    def user_logged_out(self, sender, request, user, **kwargs):
        return None


def account_unlock(user) -> int:
    """Forget ``user``'s failed sign-ins (the account lock; a locked source stays)."""
    return AxesProxyHandler.reset_attempts(username=account_throttle_key(user))


def has_second_factor(user) -> bool:
    """Whether ``user`` has an authenticator or backup codes (confirmed)."""
    return (
        TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        or StaticDevice.objects.filter(user=user, confirmed=True).exists()
    )


def match_second_factor(user, token: str):
    """The device of ``user`` that accepts ``token``, or None.

    An authenticator code (six digits; backup codes have eight characters) is tried on
    the authenticator and anything else on the backup codes, so a wrong code of one kind
    does not count as a failure against the other (django-otp throttles each device on
    its failures).
    """
    with transaction.atomic():
        if token.isdigit() and len(token) == 6:
            devices = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
        else:
            devices = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True)
        for device in devices:
            if device.verify_is_allowed()[0] and device.verify_token(token):
                return device
    return None


class _CodeInput(forms.TextInput):
    """A code is never written back into the page (like a password field)."""

    def format_value(self, value):
        return None


class StaffAuthenticationForm(AdminAuthenticationForm):
    """Username, password and code in one form, with one answer (module docstring)."""

    otp_token = forms.CharField(
        label=_("Code from your authenticator app, or a backup code"),
        required=False,
        max_length=16,
        widget=_CodeInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "none"}
        ),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": _(
            "Please enter a correct username and password, and the code from your "
            "authenticator app if you use one."
        ),
        "locked": _(
            "Too many failed sign-in attempts. Try again later, or ask a clinic admin to "
            "unlock your account."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            raise self._refusal()
        with transaction.atomic():
            # One attempt at a time per account: the throttle reads the failures so far,
            # the password is checked, the failure is written, then the next attempt
            # reads it. Without the row lock, attempts sent at once all read a count
            # under the limit and all had their password checked.
            account = account_by_login(getattr(self.request, "clinic", None), username)
            if account is not None:
                User.objects.select_for_update().filter(pk=account.pk).exists()
            user = authenticate(self.request, username=username, password=password)
            accepted = user is not None and user.is_staff and self._second_factor(user)
            if user is not None and not accepted:
                # The password was right but something else was not: count it as wrong.
                user_login_failed.send(
                    sender=__name__, credentials={"username": username}, request=self.request
                )
        if accepted:
            self.user_cache = user
            return self.cleaned_data
        raise self._refusal()

    def _second_factor(self, user) -> bool:
        """The code, checked only once the throttle and the password allowed it. An
        account with no authenticator yet signs in with its password (where the admin
        requires one, ``portal.staff`` then lets it reach only the enrolment page)."""
        if not has_second_factor(user):
            return True
        token = (self.cleaned_data.get("otp_token") or "").replace(" ", "")
        device = match_second_factor(user, token) if token else None
        if device is None:
            return False
        # django_otp's user_logged_in receiver marks the session verified by this device.
        user.otp_device = device
        return True

    def _refusal(self):
        if getattr(self.request, "axes_locked_out", False):
            return forms.ValidationError(self.error_messages["locked"], code="locked")
        return forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
