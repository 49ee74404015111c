"""Where the record's documents live: the same private storage as message attachments,
STORAGES["attachments"] (a private folder, or a private bucket prefix with S3_BUCKET).
Neither has a ``url()``: a document is read only through a view that checks access.

The lazy wrapper is the records app's own (features do not import each other); it
follows ``messaging.storage`` exactly.
"""

from django.core.files.storage import storages
from django.utils.functional import LazyObject, empty


class DocumentStorage(LazyObject):
    """STORAGES["attachments"], looked up at first use and again after STORAGES changes."""

    def _setup(self):
        self._wrapped = storages["attachments"]


_storage = DocumentStorage()


def document_storage():
    return _storage


def forget_document_storage(*, setting, **kwargs):
    """setting_changed receiver: a new STORAGES takes effect."""
    if setting == "STORAGES":
        _storage._wrapped = empty
