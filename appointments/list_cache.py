"""The patient's appointments page, its three lists rendered, kept in the shared cache.

Rendering the lists (a card per visit, dates in the reader's language) is most of the
page's cost, and they change only when one of the chart's visits is written, or when
the clinic renames a provider or a type of visit. An entry is kept with the chart's
version and the clinic's catalogue version, under

    clinic:<id>:appointment-lists:<patient id>:<VERSION>:<variant>

(``variant``: language, page numbers, whether the clinic lets patients cancel), and used
only while both versions are those it was kept with (read with the entry in one round
trip, ``portal.core.cache.versioned_entry``). Every save, delete or bulk update of a
visit gives its chart a new version, every save or delete of a provider or a type gives
the clinic's catalogue one, now and again when the transaction commits
(``portal.core.cache.bump_versions``: a reader that rendered the old rows before the
commit keeps them with a version no one reads any more). Receivers
are connected in ``AppointmentsConfig.ready``, so web processes, Celery workers and
management commands all count.

Time moves visits too: an entry is used only until the first upcoming visit in it ends
(it then belongs under Past), and every entry expires after ``TIMEOUT`` seconds.
"""

from appointments.models import Appointment, AppointmentType, Provider
from portal.core.cache import (
    bump_versions,
    clinic_cache_key,
    drop_on_update,
    drop_on_write,
    keep_versioned,
    versioned_entry,
)

TIMEOUT = 300
VERSION = "4"  # of the entry's shape and of the template: change it when either changes


def _chart_key(clinic_id, patient_id):
    return clinic_cache_key(clinic_id, "appointment-lists", patient_id, "version")


def _catalogue_key(clinic_id):
    return clinic_cache_key(clinic_id, "appointment-catalogue", "version")


def cached_lists(*, clinic, patient, variant: tuple, now, render):
    """``render()``'s (html, valid_until) for the chart and ``variant``, from the cache
    while it holds and ``now`` is before ``valid_until`` (None: no time limit)."""
    key = clinic_cache_key(clinic.pk, "appointment-lists", patient.pk, VERSION, *variant)
    versions, entry = versioned_entry(
        [_chart_key(clinic.pk, patient.pk), _catalogue_key(clinic.pk)], key
    )
    if entry is not None and (entry[1] is None or now < entry[1]):
        return entry[0]
    html, valid_until = render()
    if valid_until is None or now < valid_until:
        keep_versioned(key, versions, (html, valid_until), TIMEOUT)
    return html


def _visit_written(sender, instance, **kwargs):
    if instance.clinic_id is not None and instance.patient_id is not None:
        bump_versions([_chart_key(instance.clinic_id, instance.patient_id)])


def _visits_updated(sender, rows, **kwargs):
    bump_versions(
        _chart_key(row["clinic_id"], row["patient_id"])
        for row in rows
        if row["clinic_id"] is not None and row["patient_id"] is not None
    )


def _catalogue_written(sender, instance, **kwargs):
    if instance.clinic_id is not None:
        bump_versions([_catalogue_key(instance.clinic_id)])


def connect_receivers():
    drop_on_write(_visit_written, Appointment, uid="appointment-lists")
    drop_on_update(_visits_updated, Appointment, uid="appointment-lists")
    drop_on_write(_catalogue_written, Provider, AppointmentType, uid="appointment-lists")
