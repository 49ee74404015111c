"""The signed-in account, read on every request from its session, kept in the shared cache.

``ClinicBackend.get_user`` reads it through ``read_through`` under ``auth-user:<id>``;
every write to the account drops it at once and again at commit: saves and deletes
(``post_save``/``post_delete``) and bulk updates (``rows_updated`` from ``UserQuerySet``).
Sign-out everywhere, a new password and deactivation all write the row, so they take
effect on the next request, even for a request that was reading the account meanwhile.
"""

from clinics.models import User
from portal.core.cache import (
    drop_now_and_at_commit,
    drop_on_update,
    drop_on_write,
    read_through,
    read_through_keys,
    schema_tag,
)

TIMEOUT = 300


def _key(pk):
    return f"auth-user:{pk}"


def cached_user(pk) -> User | None:
    return read_through(
        _key(pk),
        lambda: User._default_manager.filter(pk=pk).first(),
        timeout=TIMEOUT,
        tag=schema_tag(User),
    )


def cached_user_keys(pk) -> list[str]:
    """The keys ``cached_user`` reads (``clinics.prefetch``)."""
    return read_through_keys(_key(pk))


def forget_users(pks):
    drop_now_and_at_commit(_key(pk) for pk in pks)


def _written(sender, instance, **kwargs):
    forget_users([instance.pk])


def _updated(sender, rows, **kwargs):
    forget_users(row["pk"] for row in rows)


def connect_receivers():
    drop_on_write(_written, User, uid="auth-user")
    drop_on_update(_updated, User, uid="auth-user")
