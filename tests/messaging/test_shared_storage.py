"""Attachments in an S3-compatible bucket (S3_BUCKET): every machine reads the same files,
the portal still streams them only after the reader's access check, and the objects stay
private. Runs against moto's S3 server on loopback (tests/storage.py)."""

from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings

from messaging import services
from messaging.models import Attachment, Thread
from messaging.storage import attachment_storage
from tests.clients import client_for
from tests.messaging.threads import start_thread
from tests.storage import s3_standin
from tests.uploads import PDF_BYTES, checked, image_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def s3():
    with s3_standin() as standin:
        yield standin


@pytest.fixture
def bucket(s3, settings):
    name = s3.new_bucket()
    settings.STORAGES = s3.storages(name)
    return name


def portal_url(attachment):
    return f"/portal/messages/attachments/{attachment.pk}/"


@pytest.fixture
def with_pdf(bucket, fiona, chart):
    """Fiona wrote to Maria with a PDF attached, stored in the bucket."""
    thread = start_thread(fiona, chart, attachments=[checked("Lab results.pdf")])
    return Attachment.objects.get(message__thread=thread)


def test_a_staff_attachment_is_stored_in_the_bucket_not_on_disk(s3, bucket, with_pdf):
    key = f"attachments/{with_pdf.file.name}"
    assert s3.keys(bucket) == [key]
    assert s3.body(bucket, key) == PDF_BYTES
    assert not Path(settings.PORTAL_ATTACHMENTS_ROOT).exists()


def test_the_patient_downloads_it_through_the_portal(maria, with_pdf):
    response = client_for(maria, committing=True).get(portal_url(with_pdf))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Disposition"] == 'attachment; filename="Lab results.pdf"'
    assert "no-store" in response["Cache-Control"]


def test_another_patient_of_the_clinic_gets_a_404(bob_chart, with_pdf):
    bob = bob_chart.access_grants.get().user
    response = client_for(bob, committing=True).get(portal_url(with_pdf))
    assert response.status_code == 404
    assert not hasattr(response, "streaming_content")


def test_the_object_is_not_readable_without_the_portals_keys(s3, bucket, with_pdf):
    assert s3.anonymous_get(bucket, f"attachments/{with_pdf.file.name}") == 403


def test_the_storage_never_makes_a_link_to_the_object(with_pdf):
    with pytest.raises(NotImplementedError):
        attachment_storage().url(with_pdf.file.name)


def test_a_patients_upload_goes_to_the_bucket_and_comes_back(s3, bucket, maria, chart):
    client = client_for(maria, committing=True)
    response = client.post(
        "/portal/messages/new/",
        {
            "category": "general",
            "subject": "My scan",
            "body": "Here it is.",
            "attachment": upload("My scan.png", image_bytes("PNG")),
        },
    )
    assert response.status_code == 302
    attachment = Attachment.objects.get(message__thread__patient=chart)
    assert s3.keys(bucket) == [f"attachments/{attachment.file.name}"]
    download = client.get(portal_url(attachment))
    assert b"".join(download.streaming_content) == image_bytes("PNG")


def test_an_object_missing_from_the_bucket_is_a_404(s3, bucket, maria, with_pdf):
    s3.client().delete_object(Bucket=bucket, Key=f"attachments/{with_pdf.file.name}")
    assert client_for(maria, committing=True).get(portal_url(with_pdf)).status_code == 404


def test_a_failed_message_leaves_no_object_behind(s3, bucket, fiona, chart):
    with (
        mock.patch.object(services, "audit_record", side_effect=RuntimeError("db gone")),
        pytest.raises(RuntimeError),
    ):
        start_thread(fiona, chart, attachments=[checked("Lab results.pdf")])
    assert not Thread.objects.exists()
    assert s3.keys(bucket) == []
