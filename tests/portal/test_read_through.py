"""Read-through cache entries are never stale after a write, even when a reader loaded the
rows before the write and stores them after it (``portal.core.cache``)."""

import pytest

from portal.core.cache import drop_now_and_at_commit, read_through

pytestmark = pytest.mark.django_db  # on_commit needs a connection

KEY = "clinic:1:test-read-through:7"


@pytest.fixture(autouse=True)
def _clean():
    from django.core.cache import cache

    cache.delete_many([KEY, f"{KEY}:gen"])
    yield
    cache.delete_many([KEY, f"{KEY}:gen"])


def test_an_entry_is_loaded_once_and_reused():
    loads = []
    assert read_through(KEY, lambda: loads.append(1) or "rows", timeout=60) == "rows"
    assert read_through(KEY, lambda: loads.append(1) or "other", timeout=60) == "rows"
    assert loads == [1]


def test_a_write_invalidates_the_entry():
    read_through(KEY, lambda: "old", timeout=60)
    drop_now_and_at_commit([KEY])
    assert read_through(KEY, lambda: "new", timeout=60) == "new"


def test_rows_loaded_before_a_write_and_stored_after_it_are_not_used():
    """The reader reads the generation, loads the rows; meanwhile a write commits (and
    invalidates); then the reader stores what it loaded. The next reader must reload."""

    def load_while_someone_writes():
        drop_now_and_at_commit([KEY])  # the write commits while this reader is loading
        return "old"

    assert read_through(KEY, load_while_someone_writes, timeout=60) == "old"
    assert read_through(KEY, lambda: "new", timeout=60) == "new"


def test_a_read_inside_the_writers_transaction_is_dropped_at_commit(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        drop_now_and_at_commit([KEY])  # written, not yet committed
        assert read_through(KEY, lambda: "before commit", timeout=60) == "before commit"
    assert read_through(KEY, lambda: "after commit", timeout=60) == "after commit"


def test_none_is_a_value_too():
    loads = []
    assert read_through(KEY, lambda: loads.append(1), timeout=60) is None
    assert read_through(KEY, lambda: loads.append(1), timeout=60) is None
    assert loads == [1]


def test_an_entry_written_under_another_tag_is_reloaded():
    """A deploy that changes the pickled models: old and new code share the key (and so
    each other's invalidations) but never use each other's entries."""
    assert read_through(KEY, lambda: "old code", timeout=60, tag="a") == "old code"
    assert read_through(KEY, lambda: "new code", timeout=60, tag="b") == "new code"
    assert read_through(KEY, lambda: "again", timeout=60, tag="b") == "new code"


def test_an_entry_that_no_longer_unpickles_is_a_miss(monkeypatch):
    import pickle

    from portal.core import cache as module

    read_through(KEY, lambda: "stored by other code", timeout=60)
    real_get_many = module.cache.get_many

    def broken(keys):
        if KEY in keys:
            raise pickle.UnpicklingError("a class that no longer exists")
        return real_get_many(keys)

    monkeypatch.setattr(module.cache, "get_many", broken)
    assert read_through(KEY, lambda: "reloaded", timeout=60) == "reloaded"
