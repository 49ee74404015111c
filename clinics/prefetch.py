"""What a request on a clinic's host reads first from the shared cache, named ahead for
``portal.core.prefetch``: the clinic's entry (from the host, by this process's hint),
the session (from the cookie, when the session engine keeps sessions in the cache) and
the signed-in account (from the session, once it is read). Each reader still checks
what it gets as before; a wrong guess only costs a read that nobody uses."""

from functools import cache
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import _get_user_session_key
from django.core.exceptions import DisallowedHost, ValidationError

from clinics import tenant_cache, user_cache
from clinics.middleware import ALWAYS_SERVED_PATHS


@cache
def _session_store(engine):
    return import_module(engine).SessionStore


def hinted_clinic_id(request) -> int | None:
    """The clinic this process last resolved the request's host to (a hint), or None."""
    if request.path in ALWAYS_SERVED_PATHS:
        return None
    try:
        host = request.get_host()
    except DisallowedHost:  # refused by TenantMiddleware, as before
        return None
    return tenant_cache.hinted_clinic_id(host.split(":")[0])


def session_cache_key(request) -> str | None:
    """The cache key the session engine will read the cookie's session from, or None (no
    cookie, a malformed one, or an engine that does not keep sessions in the cache)."""
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key or request.path in ALWAYS_SERVED_PATHS:
        return None
    store = _session_store(settings.SESSION_ENGINE)(session_key)
    if store.session_key is None:  # refused by the engine: no read to make
        return None
    return getattr(store, "cache_key", None)


def signed_in_user_id(request, found) -> int | None:
    """The account the session read ahead names, or None. Read as Django's auth reads it
    (``_get_user_session_key``, the function ``get_user`` calls): only
    ``patients.signin`` names the session's keys (tests/security/test_one_way_in.py)."""
    data = found.get(session_cache_key(request))
    if not isinstance(data, dict):
        return None
    try:
        return _get_user_session_key(SimpleNamespace(session=data))
    except (KeyError, ValidationError):
        return None


def prefetch_keys(request, found) -> list[str]:
    keys = []
    clinic_id = hinted_clinic_id(request)
    if clinic_id is not None:
        keys += tenant_cache.hinted_entry_keys(clinic_id)
    session = session_cache_key(request)
    if session is not None:
        keys.append(session)
        user_id = signed_in_user_id(request, found)
        if user_id is not None:
            keys += user_cache.cached_user_keys(user_id)
    return keys
