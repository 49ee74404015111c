"""Counting limits (django-ratelimit over the shared cache), keyed per clinic."""

from django_ratelimit.core import is_ratelimited


def limit_reached(request, *, name: str, clinic, key: str, rate: str) -> bool:
    """Count one hit against ``name`` for ``key`` at ``clinic``; True once over ``rate``."""
    value = f"{clinic.pk}:{key}"
    return is_ratelimited(
        request, group=f"portal:{name}", key=lambda group, req: value, rate=rate, increment=True
    )
