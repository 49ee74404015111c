"""The test suite's own footing: what a transactional test restores (the migrations'
content types, permissions and staff roles) is found by every connection object of the
process, not only by the one that created the test database. Under the browser tests,
Playwright runs an event loop in the main thread and Django then hands that thread
another connection object; a new thread shows the same case without a browser."""

import threading

import pytest


@pytest.mark.django_db(transaction=True)
def test_another_connection_object_finds_the_rows_to_restore():
    from django.db import connections

    seen = {}

    def look():
        each = connections["default"]
        seen["object"] = each
        seen["found"] = hasattr(each, "_test_serialized_contents")

    thread = threading.Thread(target=look)
    thread.start()
    thread.join(timeout=10)
    assert seen["object"] is not connections["default"]  # the case this guards
    assert seen["found"]
