"""Cache keys that carry the clinic id, so one clinic never reads another's entry; and the
read-through entries that signed-in pages are served from, with their invalidation."""

import hashlib
import pickle
import uuid
from functools import cache as memoise

from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal

# How long a key's generation is remembered. Far longer than any entry lives (a reader
# would have to spend this long between reading the generation and storing its rows for
# a stale entry to be taken as current).
GENERATION_TIMEOUT = 3600


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


# What unpickling an entry written by other code can raise.
UNPICKLABLE = (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError)


def _generation_key(key):
    return f"{key}:gen"


def read_through_keys(key) -> list[str]:
    """The keys ``read_through(key, …)`` reads (for ``portal.core.prefetch``)."""
    return [key, _generation_key(key)]


def read_through(key, load, *, timeout, tag=""):
    """``load()``'s value, kept under ``key`` for ``timeout`` seconds.

    An entry is stored with the key's generation as it was *before* ``load()`` ran, and
    used only while the generation is unchanged. Every write bumps the generation (see
    ``drop_now_and_at_commit``), so a reader that loaded the rows before a write committed
    can store them, but no one will use them: there is no window in which an old value
    comes back. Entry and generation are read in one round trip.

    ``tag`` (e.g. ``schema_tag`` of the pickled models) is kept in the entry, not in the
    key: during a deploy, old and new processes share the key and its generation, so a
    write in either invalidates both, and neither uses the other's pickles. An entry that
    no longer unpickles is a miss.
    """
    generation_key = _generation_key(key)
    try:
        found = cache.get_many([key, generation_key])
    except UNPICKLABLE:
        found = {generation_key: cache.get(generation_key)}
    generation = found.get(generation_key)
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 3 and entry[0] == generation and entry[1] == tag:
        return entry[2]
    value = load()
    cache.set(key, (generation, tag, value), timeout)
    return value


def drop_now_and_at_commit(keys) -> None:
    """Invalidate cache entries at once and again when the transaction commits: delete
    them and give each key a new generation (``read_through``), so that a request that read
    the old rows before the commit cannot keep them cached."""
    keys = sorted(set(keys))
    if not keys:
        return

    def drop():
        cache.delete_many(keys)
        cache.set_many({_generation_key(k): uuid.uuid4().hex for k in keys}, GENERATION_TIMEOUT)

    drop()
    transaction.on_commit(drop)


def current_versions(keys: list[str]) -> list[str]:
    """The version stored under each of ``keys`` (one round trip when all are there), a
    new random one for a key not seen yet. A cache entry keyed by these versions is read
    only while none of them is bumped (``bump_versions``)."""
    found = cache.get_many(keys)
    missing = [key for key in keys if key not in found]
    if missing:
        # add(), not set(): two first readers must not replace each other's version.
        for key in missing:
            cache.add(key, uuid.uuid4().hex, GENERATION_TIMEOUT)
        found = cache.get_many(keys)
    return [found.get(key) for key in keys]


def versioned_entry(version_keys: list[str], key: str):
    """The versions under ``version_keys`` (``current_versions``) and the value kept
    under ``key`` by ``keep_versioned`` with these same versions, or None: in one round
    trip when the versions exist. The key does not carry the versions; the entry does,
    and an entry kept under other versions (before a write, ``bump_versions``) is a miss.
    An entry that does not unpickle (written by other code) is a miss too."""
    try:
        found = cache.get_many([*version_keys, key])
    except UNPICKLABLE:
        found = cache.get_many(version_keys)
    versions = [found.get(version_key) for version_key in version_keys]
    if None in versions:
        return current_versions(version_keys), None
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == tuple(versions):
        return versions, entry[1]
    return versions, None


def keep_versioned(key: str, versions: list[str], value, timeout: int) -> None:
    """Keep ``value`` under ``key`` for the ``versions`` read *before* it was made
    (``versioned_entry``): if a write bumped one of them meanwhile, no one uses it."""
    cache.set(key, (tuple(versions), value), timeout)


def bump_versions(keys) -> None:
    """Give each key a new version (``current_versions``) at once and again when the
    transaction commits: a reader that rendered the old rows before the commit stores
    them under a version no one reads any more."""
    keys = sorted(set(keys))
    if not keys:
        return

    def bump():
        cache.set_many({key: uuid.uuid4().hex for key in keys}, GENERATION_TIMEOUT)

    bump()
    transaction.on_commit(bump)


def short_digest(text: str) -> str:
    """A short digest of ``text`` for a cache key (a name that may be long or odd)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def page_number_for_key(value: str | None) -> str:
    """A ``?page=`` value as ``Paginator.get_page`` takes it, in a short form fit for a
    cache key: a number of at most six digits or "last"; anything else is page 1."""
    if value == "last" or (value and value.isdecimal() and len(value) <= 6):
        return value
    return "1"


@memoise
def schema_tag(*models) -> str:
    """A short tag of the models' columns, for cache keys holding pickled rows: after a
    deploy that changes a table, the old pickles are under keys no one reads."""
    columns = ",".join(
        f"{model._meta.label_lower}.{field.attname}"
        for model in models
        for field in model._meta.concrete_fields
    )
    return hashlib.sha256(columns.encode()).hexdigest()[:8]


def _for_models(receiver, models):
    """``receiver``, called only for ``models`` or a proxy of one (Django sends a proxy's
    saves with the proxy as sender: an admin's proxy of User must drop the User cache)."""
    concrete = {model._meta.concrete_model for model in models}

    def relay(sender, **kwargs):
        if getattr(getattr(sender, "_meta", None), "concrete_model", None) in concrete:
            receiver(sender=sender, **kwargs)

    return relay


def _dispatch_uid(uid, receiver, models, name):
    labels = ",".join(sorted(model._meta.label_lower for model in models))
    return f"{uid}-{receiver.__module__}.{receiver.__qualname__}-{labels}-{name}"


def drop_on_write(receiver, *models, uid: str) -> None:
    """Connect ``receiver`` to every save and delete of ``models`` and their proxies (in
    every process: call it from an app's ``ready()``)."""
    relay = _for_models(receiver, models)
    for name, signal in (("saved", post_save), ("deleted", post_delete)):
        signal.connect(relay, weak=False, dispatch_uid=_dispatch_uid(uid, receiver, models, name))


# The one hook for writes that send no model signal. ``QuerySet.update()`` sends no
# ``post_save``: a queryset that inherits ``ReportsUpdates`` sends ``rows_updated`` instead,
# with ``rows``, a list of dicts of the queryset's ``update_report_fields`` read just
# before the update. Code that writes such rows with raw SQL sends it itself.
rows_updated = Signal()


class ReportsUpdates(models.QuerySet):
    """``update()`` tells the caches (``rows_updated``) which rows it changed."""

    update_report_fields: tuple[str, ...] = ("pk",)

    def update(self, **kwargs):
        rows = list(self.values(*self.update_report_fields))
        changed = super().update(**kwargs)
        if rows:
            rows_updated.send(sender=self.model, rows=rows)
        return changed


def drop_on_update(receiver, *models, uid: str) -> None:
    """Connect ``receiver(sender, rows, **kwargs)`` to bulk updates of ``models`` and
    their proxies."""
    rows_updated.connect(
        _for_models(receiver, models),
        weak=False,
        dispatch_uid=_dispatch_uid(uid, receiver, models, "updated"),
    )
