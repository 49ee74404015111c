from django.conf import settings


def source_code(request):
    """Where every page's "Source code" link points (AGPL-3.0 §13)."""
    return {"portal_source_url": settings.PORTAL_SOURCE_URL}
