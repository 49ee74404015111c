"""Cache keys that carry the clinic id, so one clinic never reads another's entry."""

from django.core.cache import cache


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
