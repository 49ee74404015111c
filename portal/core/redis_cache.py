"""Django's Redis cache, keeping one client object per server for the life of the process.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` around the (shared)
connection pool for every cache call; building it costs more than the GET itself on a
page's few cache calls (tenant, session, home figures). ``redis.Redis`` objects are
thread-safe and hold no per-call state beyond the pool, so one per pool serves every
call. Set as ``CACHES["default"]["BACKEND"]`` when ``REDIS_URL`` is set; it answers the
first read of a key the request read ahead from what was read (``portal.core.prefetch``).
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from portal.core.prefetch import PrefetchingCacheMixin


class KeptClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


class KeptClientRedisCache(PrefetchingCacheMixin, RedisCache):
    """With the request's keys read ahead (``portal.core.prefetch``)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = KeptClientRedisCacheClient
