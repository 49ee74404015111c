"""An S3 API on loopback (moto's server mode) and the STORAGES that point the portal at it.

The portal talks to it with its real S3 client (django-storages over boto3), as it would to
AWS, MinIO or any S3-compatible store; nothing leaves 127.0.0.1.
"""

import contextlib
import logging
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import boto3
from moto.server import ThreadedMotoServer

from portal.settings import s3_storage

REGION = "us-east-1"
# The stand-in accepts any keys; the portal signs every request with these.
KEYS = {"access_key": "test-key-id", "secret_key": "test-secret-not-a-secret"}


@dataclass
class S3StandIn:
    endpoint_url: str

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=KEYS["access_key"],
            aws_secret_access_key=KEYS["secret_key"],
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket (one per test: nothing is shared between tests)."""
        name = f"portal-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storages(self, bucket: str) -> dict:
        """The STORAGES setting of a deployment with S3_BUCKET=``bucket`` on this server."""
        options = {"bucket": bucket, "endpoint_url": self.endpoint_url, "region_name": REGION}
        return {
            "default": s3_storage(prefix="media", **options, **KEYS),
            "attachments": s3_storage(prefix="attachments", **options, **KEYS),
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }

    def keys(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def body(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def anonymous_get(self, bucket: str, key: str) -> int:
        """The status an unsigned GET of the object gets (what a leaked link would)."""
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/{bucket}/{key}", timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as refused:
            return refused.code


@contextlib.contextmanager
def s3_standin():
    # One log line per S3 request otherwise (werkzeug's, under the stand-in).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3StandIn(f"http://{host}:{port}")
    finally:
        server.stop()
