import contextlib

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from clinics.models import User
from portal.core.cache import drop_now_and_at_commit, drop_on_write, read_through, schema_tag
from portal.core.identifiers import InvalidIdentifier, canonical_email

# The signed-in account, read on every request from its session, is kept in the shared
# cache (``read_through``) and invalidated by every write to it (save, delete, or a bulk
# update through ``UserQuerySet``), at once and again at commit. Sign-out everywhere, a
# new password and deactivation all write the row, so they take effect on the next
# request as before, even for a request that was reading the account at that moment.
USER_TIMEOUT = 300


def _user_key(pk):
    return f"auth-user:{pk}"


def forget_users(pks):
    drop_now_and_at_commit(_user_key(pk) for pk in pks)


def _user_written(sender, instance, **kwargs):
    forget_users([instance.pk])


drop_on_write(_user_written, User, uid="auth-user")


class ClinicBackend(ModelBackend):
    """Password sign-in scoped to the request's clinic.

    The same username or email may exist at two clinics; only the account of the
    clinic whose host received the request can sign in. On the base domain only
    platform operators (no clinic) can.
    """

    def get_user(self, user_id):
        user = read_through(
            _user_key(user_id),
            lambda: User._default_manager.filter(pk=user_id).first(),
            timeout=USER_TIMEOUT,
            tag=schema_tag(User),
        )
        return user if user is not None and self.user_can_authenticate(user) else None

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        clinic = getattr(request, "clinic", None)
        username = username.strip()
        users = (
            User.objects.filter(clinic=clinic)
            if clinic
            else User.objects.filter(clinic__isnull=True)
        )
        by_login = Q(username__iexact=username)
        if "@" in username:
            # Emails are stored canonical and compared exactly (portal.core.identifiers).
            with contextlib.suppress(InvalidIdentifier):
                by_login |= Q(email=canonical_email(username))
        user = users.filter(by_login).first()
        if user is None:
            # Spend the same time as a real check so timing does not reveal accounts.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
