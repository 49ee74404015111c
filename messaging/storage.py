"""Where attachments live: the storage STORAGES["attachments"] names.

In development and the default test run that is ``LocalAttachmentStorage``, a private
folder (PORTAL_ATTACHMENTS_ROOT) with no URL; with S3_BUCKET set it is a private bucket
prefix (portal.core.storage.PrivateS3Storage), shared by every process on every machine.
Either way files are read only through the views that check the reader's access: neither
storage has a ``url()``, so nothing can link to a file directly.
"""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.utils.functional import LazyObject, empty


class LocalAttachmentStorage(FileSystemStorage):
    # Read at every use (not cached) so the setting can differ per process and per test.
    @property
    def base_location(self):
        return settings.PORTAL_ATTACHMENTS_ROOT

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    @property
    def file_permissions_mode(self):
        return 0o600

    @property
    def directory_permissions_mode(self):
        return 0o700

    def url(self, name):
        raise NotImplementedError("attachments are served only through access-checked views")


class AttachmentStorage(LazyObject):
    """STORAGES["attachments"], looked up at first use and again after STORAGES changes
    (the model field keeps this one object for the life of the process)."""

    def _setup(self):
        self._wrapped = storages["attachments"]


_storage = AttachmentStorage()


def attachment_storage():
    return _storage


def forget_attachment_storage(*, setting, **kwargs):
    """setting_changed receiver (MessagingConfig.ready): a new STORAGES takes effect."""
    if setting == "STORAGES":
        _storage._wrapped = empty
