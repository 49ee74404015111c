"""The cache entries a request reads first, read ahead together (``portal.core.prefetch``):
a held value answers only the first read of its key, in its own request, and no read
after a write; a signed-in page makes three reads of the shared cache where it made six."""

import threading
from contextlib import contextmanager

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client, RequestFactory
from django.utils import timezone

from portal.core import prefetch
from tests.clients import portal_client
from tests.factories import PatientAccessFactory, PatientFactory

pytestmark = pytest.mark.django_db

KEYS = ["clinic:1:test-prefetch:a", "clinic:1:test-prefetch:b", "clinic:1:test-prefetch:c"]


class PrefetchingLocMemCache(prefetch.PrefetchingCacheMixin, LocMemCache):
    """The in-process cache, reading ahead as the Redis cache does (production's)."""


@pytest.fixture(autouse=True)
def _a_cache_that_reads_ahead(settings):
    """On Redis (CI's second run) the cache is production's; without, development's
    in-process cache reads nothing ahead (``read_ahead``), so these tests give it the
    same mixin."""
    if not isinstance(caches["default"], prefetch.PrefetchingCacheMixin):
        settings.CACHES = {
            "default": {"BACKEND": f"{__name__}.PrefetchingLocMemCache", "LOCATION": "prefetch"}
        }
    assert isinstance(caches["default"], prefetch.PrefetchingCacheMixin)


@pytest.fixture(autouse=True)
def _clean(_a_cache_that_reads_ahead):
    cache.delete_many(KEYS)
    yield
    cache.delete_many(KEYS)


@pytest.fixture
def provider(monkeypatch):
    """A provider naming ``KEYS[:2]``, then ``KEYS[2]`` once ``KEYS[0]`` was read."""
    calls = []

    def keys(request, found):
        calls.append(dict(found))
        return KEYS[:2] + ([KEYS[2]] if KEYS[0] in found else [])

    monkeypatch.setattr(prefetch, "_providers", [keys])
    return calls


@contextmanager
def held(request=None):
    """Reads ahead as the middleware does and holds the values for the block."""
    token = prefetch._held.set(prefetch.read_ahead(request or RequestFactory().get("/")))
    try:
        yield
    finally:
        prefetch._held.reset(token)


def changed_elsewhere(key, value):
    """A write to the cache that this request does not make (another process's)."""
    super(prefetch.PrefetchingCacheMixin, caches["default"]).set(key, value)


def test_a_held_value_answers_the_first_read_only(provider):
    cache.set(KEYS[0], "as read ahead")
    with held():
        # Changed behind the cache's back (another process): the first read is the
        # value read ahead, the second reads the cache again.
        changed_elsewhere(KEYS[0], "changed since")
        assert cache.get(KEYS[0]) == "as read ahead"
        assert cache.get(KEYS[0]) == "changed since"


def test_keys_named_from_what_was_read_are_read_in_a_second_read(provider):
    cache.set_many({KEYS[0]: "a", KEYS[2]: "c"})
    with held():
        assert provider == [{}, {KEYS[0]: "a"}, {KEYS[0]: "a", KEYS[2]: "c"}]
        assert cache.get_many(KEYS) == {KEYS[0]: "a", KEYS[2]: "c"}


def test_a_key_read_ahead_and_absent_is_absent(provider):
    with held():
        assert cache.get(KEYS[1], "default") == "default"
        assert cache.get_many([KEYS[0]]) == {}


@pytest.mark.parametrize(
    "write",
    [
        lambda: cache.set(KEYS[1], "x"),
        lambda: cache.add(KEYS[1], "x"),
        lambda: cache.delete(KEYS[1]),
        lambda: cache.set_many({KEYS[1]: "x"}),
        lambda: cache.delete_many([KEYS[1]]),
        lambda: cache.touch(KEYS[1]),
        lambda: cache.get_or_set(KEYS[1], "x"),
    ],
)
def test_any_write_forgets_every_held_value(provider, write):
    cache.set(KEYS[0], "as read ahead")
    with held():
        changed_elsewhere(KEYS[0], "newer")
        write()
        assert cache.get(KEYS[0]) == "newer"


def test_a_read_of_held_and_other_keys_reads_them_all_from_the_cache(provider):
    cache.set(KEYS[0], "as read ahead")
    with held():
        changed_elsewhere(KEYS[0], "newer")
        assert cache.get_many([KEYS[0], "clinic:1:test-prefetch:other"]) == {KEYS[0]: "newer"}
        assert cache.get(KEYS[0]) == "newer"  # no longer held


def test_a_read_with_a_version_is_never_answered_from_what_is_held(provider):
    cache.set(KEYS[0], "as read ahead")
    with held():
        assert cache.get(KEYS[0], version=2) is None


def test_nothing_is_held_outside_a_request(clinic):
    olivia = PatientAccessFactory(patient=PatientFactory(clinic=clinic)).user
    response = portal_client(olivia).get("/portal/")
    assert response.status_code == 200
    assert prefetch._held.get() is None


def test_a_wrong_guess_is_only_a_read_nobody_uses(provider):
    """The held value of a key is used only by a read of that very key."""
    cache.set(KEYS[0], "a")
    with held():
        assert cache.get("clinic:1:test-prefetch:other") is None


class StoreReads:
    """Counts the reads that reach the cache's store (Redis round trips, when on Redis)."""

    def __init__(self, monkeypatch):
        self.reads = []
        self.keys = []
        backend_class = type(caches["default"])
        base = backend_class.__mro__[
            backend_class.__mro__.index(prefetch.PrefetchingCacheMixin) + 1
        ]
        for name in ("get", "get_many", "has_key"):
            real = getattr(base, name)
            monkeypatch.setattr(base, name, self._counting(name, real))

    def _counting(self, name, real):
        def read(backend, *args, **kwargs):
            outer = not self.inner
            if outer:  # Django's get_many may read each key with get: one read
                self.reads.append(name)
                self.keys.append(args[0] if args else None)
            self.inner = True
            try:
                return real(backend, *args, **kwargs)
            finally:
                self.inner = not outer

        return read

    inner = False
    keys: list


@pytest.mark.parametrize(
    "url", ["/portal/", "/portal/messages/", "/portal/health-record/allergies/"]
)
def test_a_signed_in_page_reads_the_cache_three_times(monkeypatch, settings, clinic, url):
    """Ahead: the clinic and the session, then the account and its grants; then the page's
    own entry with its versions. (Six reads one after the other before.)"""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    olivia = PatientAccessFactory(patient=PatientFactory(clinic=clinic)).user
    client = portal_client(olivia)
    for _warm in range(2):  # the first view fills the entries, the host hint and the page
        assert client.get(url).status_code == 200
    reads = StoreReads(monkeypatch)
    assert client.get(url).status_code == 200
    assert reads.reads == ["get_many", "get_many", "get_many"], reads.keys


def test_a_grant_ended_while_a_post_arrives_refuses_it(monkeypatch, settings, clinic):
    """A POST's body is read after the request began, as slowly as the client sends it:
    staff who end the grant meanwhile (in another process) must see the POST refused.
    Only a GET or HEAD is read ahead."""
    from django.db import connection
    from django.middleware.csrf import CsrfViewMiddleware

    from messaging.models import Thread
    from patients.grant_cache import forget_grants
    from patients.models import PatientAccess

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    chart = PatientFactory(clinic=clinic)
    olivia = PatientAccessFactory(patient=chart).user
    real_process_view = CsrfViewMiddleware.process_view

    def body_arrives_slowly(self, request, *args):
        if request.method == "POST":
            # Meanwhile, another process ends the grant and drops its cache entry: the
            # row is written without this process's signals, the entry dropped by another
            # thread (its own cache connection, as another process would have).
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {PatientAccess._meta.db_table} SET revoked_at = %s WHERE user_id = %s",
                    [timezone.now(), olivia.pk],
                )
            other = threading.Thread(target=forget_grants, args=([(clinic.pk, olivia.pk)],))
            other.start()
            other.join()
        return real_process_view(self, request, *args)

    # Before the client's first request: the handler binds the middleware's methods then.
    monkeypatch.setattr(CsrfViewMiddleware, "process_view", body_arrives_slowly)
    client = portal_client(olivia)
    for _warm in range(2):
        assert client.get("/portal/messages/").status_code == 200
    response = client.post(
        "/portal/messages/new/",
        {"subject": "After the end", "category": "general", "body": "Still here?"},
    )
    assert not Thread.objects.filter(patient=chart).exists()
    assert response.status_code in (302, 403) and "/messages/" not in response.get("Location", "")


def test_a_cache_that_cannot_be_reached_is_left_to_each_reader(monkeypatch, settings):
    """Django's session engine falls back to the database when the cache fails: the read
    ahead must not turn that into a 500 (the platform's pages read no other entry)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    backend_class = type(caches["default"])

    def down(self, *args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6399.")

    client = Client(HTTP_HOST="localhost")
    client.cookies["sessionid"] = "abcdefghijklmnopqrstuvwxyz012345"
    with monkeypatch.context() as unreachable:
        for name in ("get", "get_many", "set", "delete"):
            unreachable.setattr(backend_class, name, down)
        assert client.get("/").status_code == 200
