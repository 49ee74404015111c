"""Entries kept with the versions they were made under (``portal.core.cache.versioned_entry``,
used by the record, message and appointment page caches): read with their versions in one
round trip, never used once a write bumped one of them, even when the reader made the
value before the write and kept it after."""

import pickle

import pytest
from django.core.cache import cache

from portal.core.cache import bump_versions, keep_versioned, versioned_entry

pytestmark = pytest.mark.django_db  # bump_versions bumps again at commit

CHART, RULES = "clinic:1:test-chart:version", "clinic:1:test-rules:version"
KEY = "clinic:1:test-page"


@pytest.fixture(autouse=True)
def _clean():
    cache.delete_many([CHART, RULES, KEY])
    yield
    cache.delete_many([CHART, RULES, KEY])


def read():
    return versioned_entry([CHART, RULES], KEY)


def test_versions_are_made_once_and_a_kept_value_is_read_back():
    versions, value = read()
    assert value is None and None not in versions and len(set(versions)) == 2
    keep_versioned(KEY, versions, "page", 60)
    assert read() == (versions, "page")


@pytest.mark.parametrize("bumped", [CHART, RULES])
def test_a_bump_of_either_version_makes_the_entry_a_miss(bumped):
    versions, _ = read()
    keep_versioned(KEY, versions, "page", 60)
    bump_versions([bumped])
    new_versions, value = read()
    assert value is None and new_versions != versions


def test_a_value_made_before_a_write_and_kept_after_it_is_not_used():
    versions, _ = read()  # the reader reads the versions, then renders...
    bump_versions([CHART])  # ...while a write commits...
    keep_versioned(KEY, versions, "old page", 60)  # ...and keeps what it rendered
    assert read()[1] is None


def test_lost_versions_are_a_miss_even_when_the_entry_survived():
    versions, _ = read()
    keep_versioned(KEY, versions, "page", 60)
    cache.delete(CHART)  # evicted: the next version is a new one
    new_versions, value = read()
    assert value is None and new_versions[0] != versions[0]


@pytest.mark.parametrize("stored", ["page", ("page",), (("a", "b"), "page", "extra"), None])
def test_an_entry_of_another_shape_is_a_miss(stored):
    read()
    cache.set(KEY, stored, 60)
    assert read()[1] is None


def test_an_entry_that_does_not_unpickle_is_a_miss(monkeypatch):
    versions, _ = read()
    keep_versioned(KEY, versions, "page", 60)
    real_get_many = cache.get_many

    def get_many(keys, *args, **kwargs):
        if KEY in keys:
            raise pickle.UnpicklingError("written by other code")
        return real_get_many(keys, *args, **kwargs)

    monkeypatch.setattr(cache, "get_many", get_many)
    assert read() == (versions, None)
