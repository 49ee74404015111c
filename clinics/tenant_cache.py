"""Tenant resolution: every request's clinic comes from its host.

Resolving a host costs a query on every request, so the answer is cached in the shared
cache (Redis in production), one entry per clinic under ``clinic:<id>:tenant:…``: the
clinic's and its portal settings' columns and its custom domains. Each process keeps a
small map from host to clinic id; the entry it points to is only used if it still serves
that host (same slug, or the host among its domains) and the clinic is active, so the map
can never send a host to the wrong clinic.

Any save or delete of a clinic, its portal settings or one of its domains invalidates the
clinic's entry (at once and again after the transaction commits), so a clinic deactivated
or a portal disabled in the admin takes effect on the next request in every process; an
entry is stored with the generation read before its rows were (``read_through``), so a
request that read the rows while such a change was being committed cannot keep them.
Writes that bypass signals (``QuerySet.update``, SQL) are picked up within
``TENANT_CACHE_SECONDS``.
"""

from django.conf import settings

from clinics.models import Clinic, ClinicDomain, PortalSettings
from portal.core.cache import (
    clinic_cache_key,
    drop_now_and_at_commit,
    drop_on_write,
    read_through,
    read_through_keys,
    schema_tag,
)

# Backstop for writes that send no signal; saves through the ORM take effect at once.
TENANT_CACHE_SECONDS = 30
# Hosts this process has resolved → clinic id: a hint, checked against the cached entry.
_HOST_HINTS_MAX = 10_000
_host_hints: dict[str, int] = {}


def _columns(model):
    return [f.attname for f in model._meta.concrete_fields]


def tenant_cache_key(clinic_id) -> str:
    return clinic_cache_key(clinic_id, "tenant")


def _clinic_slug_for_host(host):
    base = settings.PORTAL_BASE_DOMAIN
    if host.endswith("." + base):
        sub = host[: -len(base) - 1]
        if sub and "." not in sub:
            return sub
    return None


def _values(model, obj):
    # Database values, not descriptors' objects (a logo is its file name, not a FieldFile).
    return [f.get_prep_value(getattr(obj, f.attname)) for f in model._meta.concrete_fields]


def _entry_for(clinic):
    try:
        portal_settings = clinic.portal_settings
    except PortalSettings.DoesNotExist:
        portal_settings = None
    return {
        "clinic": _values(Clinic, clinic),
        "portal_settings": (
            None if portal_settings is None else _values(PortalSettings, portal_settings)
        ),
        "domains": list(
            ClinicDomain.objects.filter(clinic_id=clinic.pk).values_list("domain", flat=True)
        ),
    }


def _clinic_from(entry):
    clinic = Clinic.from_db("default", _columns(Clinic), entry["clinic"])
    if entry["portal_settings"] is not None:
        portal_settings = PortalSettings.from_db(
            "default", _columns(PortalSettings), entry["portal_settings"]
        )
        Clinic.portal_settings.related.set_cached_value(clinic, portal_settings)
        PortalSettings.clinic.field.set_cached_value(portal_settings, clinic)
    return clinic


_SLUG = _columns(Clinic).index("slug")
_IS_ACTIVE = _columns(Clinic).index("is_active")


def _entry_serves(entry, slug, host) -> bool:
    values = entry["clinic"]
    if not values[_IS_ACTIVE]:
        return False
    if slug:
        return values[_SLUG] == slug
    return host in entry["domains"]


def _clinic_id_for_host(slug, host):
    """The active clinic serving ``host``, by id (its rows are read through the cache)."""
    clinics = Clinic.objects.filter(is_active=True)
    clinics = clinics.filter(slug=slug) if slug else clinics.filter(domains__domain=host)
    return clinics.values_list("pk", flat=True).first()


def _cached_entry(clinic_id):
    """The clinic's entry through ``read_through``: loaded after its generation is read,
    so rows read while an operator's change was being committed are never kept."""

    def load():
        clinic = Clinic.objects.filter(pk=clinic_id).select_related("portal_settings").first()
        return None if clinic is None else _entry_for(clinic)

    # The tag: a deploy that changes either model's columns never uses an old entry.
    return read_through(
        tenant_cache_key(clinic_id),
        load,
        timeout=TENANT_CACHE_SECONDS,
        tag=schema_tag(Clinic, PortalSettings),
    )


def _normal(host):
    return host.lower().rstrip(".")


def hinted_clinic_id(host) -> int | None:
    """The clinic this process last resolved ``host`` to: a hint (the entry it points to
    is checked by ``resolve_clinic``), to read that entry ahead (``clinics.prefetch``)."""
    return _host_hints.get(_normal(host))


def hinted_entry_keys(clinic_id) -> list[str]:
    """The keys ``resolve_clinic`` reads for the clinic's entry."""
    return read_through_keys(tenant_cache_key(clinic_id))


def resolve_clinic(host):
    """Return (is_platform, clinic). Unknown or inactive hosts give (False, None)."""
    host = _normal(host)
    if host == settings.PORTAL_BASE_DOMAIN:
        return True, None
    slug = _clinic_slug_for_host(host)
    clinic_id = _host_hints.get(host)
    if clinic_id is not None:
        entry = _cached_entry(clinic_id)
        if entry is not None and _entry_serves(entry, slug, host):
            return False, _clinic_from(entry)
    clinic_id = _clinic_id_for_host(slug, host)
    if clinic_id is None:
        # Unknown hosts are not remembered: any Host header can be sent.
        _host_hints.pop(host, None)
        return False, None
    if len(_host_hints) >= _HOST_HINTS_MAX:
        _host_hints.clear()
    _host_hints[host] = clinic_id
    # The host's clinic is known now; its entry is (re)loaded after its generation is read.
    entry = _cached_entry(clinic_id)
    if entry is None or not _entry_serves(entry, slug, host):
        return False, None  # changed since the look-up a moment ago
    return False, _clinic_from(entry)


def forget_clinic(clinic_id) -> None:
    """Drop the clinic's cached tenant entry now and once the transaction commits (a
    request between the two could otherwise cache the rows as they were)."""
    drop_now_and_at_commit([tenant_cache_key(clinic_id)])


def _on_clinic_change(sender, instance, **kwargs):
    forget_clinic(instance.pk)


def _on_clinic_part_change(sender, instance, **kwargs):
    forget_clinic(instance.clinic_id)


def connect_receivers():
    drop_on_write(_on_clinic_change, Clinic, uid="tenant-cache")
    drop_on_write(_on_clinic_part_change, PortalSettings, ClinicDomain, uid="tenant-cache")
