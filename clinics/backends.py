import contextlib

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from clinics.models import User
from clinics.user_cache import cached_user
from portal.core.identifiers import InvalidIdentifier, canonical_email


def account_by_login(clinic, login: str) -> User | None:
    """The account ``login`` (a username, or its one ASCII case variant, or an email)
    names at ``clinic``;
    on the base domain (``clinic`` None) only platform operators' accounts."""
    login = (login or "").strip()
    if not login:
        return None
    users = (
        User.objects.filter(clinic=clinic) if clinic else User.objects.filter(clinic__isnull=True)
    )
    by_login = Q(username=login)
    if "@" in login:
        # Emails are stored canonical and compared exactly (portal.core.identifiers).
        with contextlib.suppress(InvalidIdentifier):
            by_login |= Q(email=canonical_email(login))
    user = users.filter(by_login).first()
    if user is None and login.isascii():
        user = _one_ascii_case_variant(users, login)
    return user


class ClinicBackend(ModelBackend):
    """Password sign-in scoped to the request's clinic.

    The same username or email may exist at two clinics; only the account of the
    clinic whose host received the request can sign in. On the base domain only
    platform operators (no clinic) can.
    """

    def get_user(self, user_id):
        user = cached_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        user = account_by_login(getattr(request, "clinic", None), username)
        if user is None:
            # Spend the same time as a real check so timing does not reveal accounts.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def _one_ascii_case_variant(users, username):
    """The one account whose ASCII username differs from ``username`` only in case.

    Compared in Python: the database's case folding is not ASCII's (PostgreSQL's
    ``UPPER('ſ')`` is ``'S'``), and two accounts differing only in case match neither."""
    found = [
        u
        for u in users.filter(username__iexact=username)
        if u.username.isascii() and u.username.lower() == username.lower()
    ]
    return found[0] if len(found) == 1 else None
