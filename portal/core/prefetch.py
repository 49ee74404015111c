"""The shared-cache entries a request reads first, read together.

A signed-in page reads, one after the other, its clinic (``clinics.tenant_cache``), its
session, its account (``clinics.user_cache``) and the account's grants
(``patients.grant_cache``): four round trips to Redis before the page itself, each costing
the web process about 0.1 ms of CPU (bench/README.md). Each of those reads knows its key
early: the clinic's from the host, the session's from the cookie, the account's and the
grants' from the session. ``PrefetchMiddleware`` asks the key providers the apps register
(``provide``) which keys the request will read, reads them in one ``get_many`` (then once
more for the keys that only what was read tells, e.g. the account named by the session),
and holds the values for this request. The default cache (``PrefetchingCacheMixin``)
answers the *first* read of each held key from them; any write through the cache in this
request forgets them all, and they are gone when the response is made.

Only a GET or HEAD is read ahead: nothing the client sends can then stand between the
read and the first use (a POST's body is read in between, as slowly as the client likes,
and a grant revoked meanwhile must refuse the POST). A cache that cannot be reached is
read by each reader as before (Django's session engine falls back to the database).

Hand-written because no cache library reads ahead across unrelated callers (Django's
session engine, the auth backend, ``read_through``). Nothing is decided from a held value
that its reader does not check as before: ``read_through`` still compares the entry with
its generation, the session is still the session of the cookie. A held value is what
Redis answered at the start of the request, a few hundred microseconds before the reader
would have asked: as if the request had arrived that much earlier.
"""

from contextvars import ContextVar

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from redis.exceptions import RedisError

from portal.core.cache import UNPICKLABLE

# (the cache that read them, {key: value or _ABSENT}) for the request being served.
_held: ContextVar[tuple | None] = ContextVar("portal_prefetched", default=None)
_ABSENT = object()
_providers: list = []
# A provider may name keys that only an earlier read tells; three reads at most.
MAX_READS = 3


def provide(provider) -> None:
    """Register ``provider(request, found) -> keys``: the default cache's keys this request
    will read, given ``found``, what was read so far ({key: value}, absent keys left out).
    Called once per read, with more found each time; it returns every key it can name
    (the ones already read are not read again). Register from an app's ``ready()``."""
    if provider not in _providers:
        _providers.append(provider)


class PrefetchMiddleware:
    """Reads the registered keys ahead and holds them for this request (see the module)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _held.set(read_ahead(request))
        try:
            return self.get_response(request)
        finally:
            _held.reset(token)


# What reading the cache may raise: an entry written by other code, a server that cannot be
# reached. Each reader meets the same and handles it as it did.
_READ_ERRORS = (*UNPICKLABLE, RedisError, OSError)


def read_ahead(request):
    """(the default cache, the values of every key the providers named), or None."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if (
        not _providers
        or request.method not in ("GET", "HEAD")
        or not isinstance(backend, PrefetchingCacheMixin)  # development's in-process cache
    ):
        return None
    held: dict = {}
    found: dict = {}
    for _read in range(MAX_READS):
        keys = list(
            dict.fromkeys(
                key
                for provider in _providers
                for key in provider(request, found)
                if key not in held
            )
        )
        if not keys:
            break
        try:
            values = backend.get_many(keys)
        except _READ_ERRORS:
            break
        found.update(values)
        held.update({key: values.get(key, _ABSENT) for key in keys})
    return (backend, held) if held else None


class PrefetchingCacheMixin:
    """A cache backend that answers the first read of each key the request read ahead
    (``PrefetchMiddleware``) from what it holds, and forgets it all on any write."""

    def _held_for(self, version):
        held = _held.get()
        if held is None or held[0] is not self or version is not None:
            return None
        return held[1]

    def _forget(self):
        held = _held.get()
        if held is not None and held[0] is self:
            held[1].clear()

    def get(self, key, default=None, version=None):
        held = self._held_for(version)
        if held and key in held:
            value = held.pop(key)
            return default if value is _ABSENT else value
        return super().get(key, default, version)

    def get_many(self, keys, version=None):
        keys = list(keys)
        held = self._held_for(version)
        if held:
            if all(key in held for key in keys):
                values = {key: held.pop(key) for key in keys}
                return {key: value for key, value in values.items() if value is not _ABSENT}
            for key in keys:  # read from the cache now: the held value is older
                held.pop(key, None)
        return super().get_many(keys, version)

    def has_key(self, key, version=None):
        held = self._held_for(version)
        if held and key in held:
            held.pop(key)
        return super().has_key(key, version)


def _forgetting(name):
    def write(self, *args, **kwargs):
        self._forget()
        return getattr(super(PrefetchingCacheMixin, self), name)(*args, **kwargs)

    write.__name__ = name
    return write


# Every write of Django's cache API (get_or_set writes through add).
for _name in ("set", "add", "touch", "delete", "set_many", "delete_many", "incr", "decr", "clear"):
    setattr(PrefetchingCacheMixin, _name, _forgetting(_name))
