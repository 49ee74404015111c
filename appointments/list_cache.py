"""The patient's appointments page, its three lists rendered, kept in the shared cache.

Rendering the lists (a card per visit, dates in the reader's language) is most of the
page's cost, and they change only when one of the chart's visits is written, or when
the clinic renames a provider or a type of visit. An entry is stored under the chart's
version and the clinic's catalogue version:

    clinic:<id>:appointment-lists:<patient id>:<chart version>:<catalogue version>:<variant>

(``variant``: language, page numbers, whether the clinic lets patients cancel). Every save,
delete or bulk update of a visit gives its chart a new version, every save or delete of a
provider or a type gives the clinic's catalogue one, now and again when the transaction
commits (the pattern of ``portal.core.cache.read_through``: a reader that rendered the
old rows before the commit stores them under a version no one reads any more). Receivers
are connected in ``AppointmentsConfig.ready``, so web processes, Celery workers and
management commands all count.

Time moves visits too: an entry is used only until the first upcoming visit in it ends
(it then belongs under Past), and every entry expires after ``TIMEOUT`` seconds.
"""

import uuid

from django.core.cache import cache
from django.db import transaction

from appointments.models import Appointment, AppointmentType, Provider
from portal.core.cache import (
    GENERATION_TIMEOUT,
    clinic_cache_key,
    drop_on_update,
    drop_on_write,
)

TIMEOUT = 300
VERSION = "3"  # of the entry's shape and of the template: change it when either changes


def _chart_key(clinic_id, patient_id):
    return clinic_cache_key(clinic_id, "appointment-lists", patient_id, "version")


def _catalogue_key(clinic_id):
    return clinic_cache_key(clinic_id, "appointment-catalogue", "version")


def cached_lists(*, clinic, patient, variant: tuple, now, render):
    """``render()``'s (html, valid_until) for the chart and ``variant``, from the cache
    while it holds and ``now`` is before ``valid_until`` (None: no time limit)."""
    chart_key, catalogue_key = _chart_key(clinic.pk, patient.pk), _catalogue_key(clinic.pk)
    versions = cache.get_many([chart_key, catalogue_key])
    missing = {k: uuid.uuid4().hex for k in (chart_key, catalogue_key) if k not in versions}
    if missing:
        # add(), not set(): two first readers must not replace each other's version.
        for key, value in missing.items():
            cache.add(key, value, GENERATION_TIMEOUT)
        versions = cache.get_many([chart_key, catalogue_key])
    key = clinic_cache_key(
        clinic.pk,
        "appointment-lists",
        patient.pk,
        versions.get(chart_key),
        versions.get(catalogue_key),
        VERSION,
        *variant,
    )
    entry = cache.get(key)
    if entry is not None and (entry[1] is None or now < entry[1]):
        return entry[0]
    html, valid_until = render()
    if valid_until is None or now < valid_until:
        cache.set(key, (html, valid_until), TIMEOUT)
    return html


def _bump(keys):
    keys = sorted(set(keys))

    def bump():
        cache.set_many({key: uuid.uuid4().hex for key in keys}, GENERATION_TIMEOUT)

    bump()
    transaction.on_commit(bump)


def _visit_written(sender, instance, **kwargs):
    if instance.clinic_id is not None and instance.patient_id is not None:
        _bump([_chart_key(instance.clinic_id, instance.patient_id)])


def _visits_updated(sender, rows, **kwargs):
    _bump(
        _chart_key(row["clinic_id"], row["patient_id"])
        for row in rows
        if row["clinic_id"] is not None and row["patient_id"] is not None
    )


def _catalogue_written(sender, instance, **kwargs):
    if instance.clinic_id is not None:
        _bump([_catalogue_key(instance.clinic_id)])


def connect_receivers():
    drop_on_write(_visit_written, Appointment, uid="appointment-lists")
    drop_on_update(_visits_updated, Appointment, uid="appointment-lists")
    drop_on_write(_catalogue_written, Provider, AppointmentType, uid="appointment-lists")
