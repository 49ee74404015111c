"""Cache keys that carry the clinic id, so one clinic never reads another's entry."""

from functools import partial

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save


def clinic_cache_key(clinic, *parts) -> str:
    clinic_id = clinic if isinstance(clinic, int) else clinic.pk
    if clinic_id is None:
        raise ValueError("a clinic cache key needs a saved clinic")
    return ":".join(["clinic", str(clinic_id), *(str(p) for p in parts)])


class ClinicCache:
    """The default cache, seen through one clinic's key space."""

    def __init__(self, clinic):
        self.clinic = clinic

    def key(self, *parts):
        return clinic_cache_key(self.clinic, *parts)

    def get(self, *parts, default=None):
        return cache.get(self.key(*parts), default)

    def set(self, *parts, value, timeout=None):
        cache.set(self.key(*parts), value, timeout)

    def delete(self, *parts):
        cache.delete(self.key(*parts))


def drop_now_and_at_commit(keys) -> None:
    """Delete cache entries at once and again when the transaction commits: a request
    that reads the old rows between the write and the commit cannot keep them cached."""
    keys = sorted(set(keys))
    if keys:
        cache.delete_many(keys)
        transaction.on_commit(partial(cache.delete_many, keys))


def drop_on_write(receiver, *models, uid: str) -> None:
    """Connect ``receiver`` to every save and delete of ``models`` (in every process: call
    it from an app's ``ready()`` or a module that app loads)."""
    for name, signal in (("saved", post_save), ("deleted", post_delete)):
        for model in models:
            signal.connect(
                receiver, sender=model, dispatch_uid=f"{uid}-{model._meta.label_lower}-{name}"
            )
