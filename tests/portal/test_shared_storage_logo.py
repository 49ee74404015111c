"""Clinic logos in an S3-compatible bucket (S3_BUCKET): stored through Django's storage
API, served by the portal's own logo view, never linked to the bucket. Runs against moto's
S3 server on loopback (tests/storage.py)."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from clinics.models import Clinic
from portal.core.storage import PrivateS3Storage
from tests.clients import host_client
from tests.storage import KEYS, s3_standin
from tests.uploads import image_bytes

pytestmark = pytest.mark.django_db
LOGO = "/branding/logo"


@pytest.fixture(scope="module")
def s3():
    with s3_standin() as standin:
        yield standin


@pytest.fixture
def bucket(s3, settings):
    name = s3.new_bucket()
    settings.STORAGES = s3.storages(name)
    return name


@pytest.fixture
def with_logo(bucket, clinic):
    clinic.logo.save("demo.png", ContentFile(image_bytes("PNG")), save=True)
    return Clinic.objects.get(pk=clinic.pk)


def test_an_uploaded_logo_is_stored_in_the_bucket(s3, bucket, with_logo):
    assert s3.keys(bucket) == [f"media/{with_logo.logo.name}"]
    assert with_logo.logo.name.startswith("clinic-logos/")


def test_the_portal_serves_the_logo_from_the_bucket(with_logo):
    response = host_client("demo").get(LOGO)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == image_bytes("PNG")
    assert response["Content-Type"] == "image/png"


def test_the_logo_object_is_private(s3, bucket, with_logo):
    assert s3.anonymous_get(bucket, f"media/{with_logo.logo.name}") == 403
    with pytest.raises(NotImplementedError):
        default_storage.url(with_logo.logo.name)


def test_a_logo_missing_from_the_bucket_is_a_404(s3, bucket, with_logo):
    s3.client().delete_object(Bucket=bucket, Key=f"media/{with_logo.logo.name}")
    assert host_client("demo").get(LOGO).status_code == 404


def test_a_clinic_without_a_logo_is_a_404(bucket, clinic):
    assert host_client("demo").get(LOGO).status_code == 404


def test_the_storage_refuses_a_public_acl(s3):
    with pytest.raises(ValueError, match="must stay private"):
        PrivateS3Storage(bucket_name="any", default_acl="public-read", **KEYS)
