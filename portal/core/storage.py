"""Uploaded files in an S3-compatible bucket that nobody reads except through the portal.

Every object stays private (no ACL is sent, so the bucket's own, private, default applies;
a public one is refused here) and the storage has no ``url()``: clinic logos and message
attachments are streamed by the portal's views, attachments after the reader's access
check. A presigned link would be a bearer token to a patient's file, valid for anyone it
was forwarded to, so none is ever made.
"""

from storages.backends.s3 import S3Storage


class PrivateS3Storage(S3Storage):
    def __init__(self, **options):
        super().__init__(**options)
        if self.default_acl and self.default_acl != "private":
            raise ValueError("Uploaded files must stay private; leave default_acl unset.")

    def url(self, name, parameters=None, expire=None, http_method=None):
        raise NotImplementedError("uploaded files are served only through the portal's views")
