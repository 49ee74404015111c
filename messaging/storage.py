"""Where attachments live: PORTAL_ATTACHMENTS_ROOT, a private folder with no URL.

Files are read only through the views that check the reader's access; the storage has
no ``url()`` so nothing can link to a file directly.
"""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class AttachmentStorage(FileSystemStorage):
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


_storage = AttachmentStorage()


def attachment_storage():
    return _storage
