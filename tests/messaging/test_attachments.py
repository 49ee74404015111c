"""Attachments: PDFs and images judged by their content, kept in a private folder under
random names, and handed back only as downloads after the reader's access is checked."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from messaging.attachments import check_upload, clean_filename, sniff
from messaging.models import Attachment, Thread
from messaging.storage import attachment_storage
from tests.clients import client_for, host_client
from tests.factories import portal_settings_of
from tests.messaging.threads import start_thread
from tests.uploads import EXE_BYTES, PDF_BYTES, checked, image_bytes, upload

pytestmark = pytest.mark.django_db

NEW = "/portal/messages/new/"


def portal_url(attachment):
    return f"/portal/messages/attachments/{attachment.pk}/"


def admin_url(attachment):
    return f"/admin/messaging/thread/attachments/{attachment.pk}/"


def stored_files():
    root = Path(settings.PORTAL_ATTACHMENTS_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def post_new(client, attachment):
    return client.post(
        NEW,
        {
            "category": "general",
            "subject": "My scan",
            "body": "Here it is.",
            "attachment": attachment,
        },
    )


@pytest.fixture
def with_pdf(fiona, chart):
    """Fiona wrote to Maria with a PDF attached."""
    thread = start_thread(fiona, chart, attachments=[checked("Lab results.pdf")])
    return Attachment.objects.get(message__thread=thread)


# --- The content check -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("scan.pdf", PDF_BYTES, "application/pdf"),
        ("photo.png", image_bytes("PNG"), "image/png"),
        ("photo.jpg", image_bytes("JPEG"), "image/jpeg"),
        ("photo.JPEG", image_bytes("JPEG"), "image/jpeg"),
        ("photo.gif", image_bytes("GIF"), "image/gif"),
    ],
)
def test_it_accepts_pdfs_and_images_by_their_content(name, content, content_type):
    accepted = check_upload(upload(name, content), max_mb=10)
    assert accepted.content_type == content_type
    assert accepted.size == len(content)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("results.pdf", EXE_BYTES, "unsupported_content"),
        ("results.pdf", b"<html><script>alert(1)</script></html>", "unsupported_content"),
        ("results.pdf", image_bytes("PNG"), "unsupported_content"),
        ("photo.png", PDF_BYTES, "unsupported_content"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10, "broken_image"),
        ("photo.gif", b"GIF89a" + b"\x00" * 50, "broken_image"),
        ("setup.exe", EXE_BYTES, "unsupported_name"),
        ("notes.html", b"<html></html>", "unsupported_name"),
        ("results", PDF_BYTES, "unsupported_name"),
    ],
)
def test_it_refuses_anything_that_is_not_the_pdf_or_image_it_claims(name, content, code):
    with pytest.raises(ValidationError) as refused:
        check_upload(upload(name, content), max_mb=10)
    assert refused.value.code == code


def test_it_refuses_a_file_larger_than_the_clinics_limit():
    content = PDF_BYTES + b"0" * (1024 * 1024)
    with pytest.raises(ValidationError) as refused:
        check_upload(upload("big.pdf", content), max_mb=1)
    assert refused.value.code == "too_large"
    assert check_upload(upload("big.pdf", content), max_mb=2).size == len(content)


def test_the_signatures_are_read_from_the_first_bytes():
    assert sniff(b"%PDF-1.7").name == "pdf"
    assert sniff(b"\xff\xd8\xff\xe0").name == "jpeg"
    assert sniff(b"MZ\x90\x00") is None
    assert sniff(b" %PDF-1.7") is None


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("Lab results.pdf", "Lab results.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\scan.PDF", "scan.pdf"),
        ('evil"\r\nSet-Cookie: x=1;.pdf', "evil_Set-Cookie_ x=1_.pdf"),
        ("photo.png", "photo.png.jpg"),
        ("...", "attachment.pdf"),
        ("résumé.pdf", "résumé.pdf"),
        ("a" * 300 + ".pdf", "a" * 96 + ".pdf"),
    ],
)
def test_it_cleans_the_file_name(given, kept):
    kind = sniff(image_bytes("JPEG")) if given == "photo.png" else sniff(PDF_BYTES)
    assert clean_filename(given, kind) == kept


# --- Uploading through the portal --------------------------------------------------------


def test_an_executable_named_pdf_is_refused_on_the_portal(maria, chart):
    response = post_new(client_for(maria, committing=True), upload("results.pdf", EXE_BYTES))
    assert response.status_code == 200
    assert "This file is not the PDF or image its name says." in response.content.decode()
    assert not Thread.objects.filter(patient=chart).exists()
    assert stored_files() == []


def test_the_compose_form_states_the_clinics_limit_and_enforces_it(maria, chart, clinic):
    portal_settings_of(clinic, attachment_max_mb=1)
    client = client_for(maria, committing=True)
    assert "A PDF or an image (PNG, JPEG or GIF), up to 1 MB." in client.get(NEW).content.decode()
    big = upload("big.pdf", PDF_BYTES + b"0" * (1024 * 1024))
    response = post_new(client, big)
    assert "The file is larger than 1 MB." in response.content.decode()
    assert not Thread.objects.filter(patient=chart).exists()


def test_an_upload_is_stored_privately_under_a_random_name(maria, chart):
    response = post_new(
        client_for(maria, committing=True), upload("My scan.png", image_bytes("PNG"))
    )
    assert response.status_code == 302
    attachment = Attachment.objects.get(message__thread__patient=chart)
    assert attachment.original_name == "My scan.png"
    assert attachment.content_type == "image/png"
    [path] = stored_files()
    assert "scan" not in path.name and path.suffix == ""
    assert path.read_bytes() == image_bytes("PNG")
    for public in (settings.STATIC_ROOT, settings.MEDIA_ROOT, *settings.STATICFILES_DIRS):
        assert not path.resolve().is_relative_to(Path(public).resolve())
    with pytest.raises(NotImplementedError):
        attachment_storage().url(attachment.file.name)


def test_a_staff_reply_with_an_attachment_goes_through_the_same_check(fiona, chart, thread):
    client = client_for(fiona, committing=True)
    url = f"/admin/messaging/thread/{thread.pk}/change/"
    refused = client.post(url, {"body": "See attached.", "attachment": upload("a.pdf", EXE_BYTES)})
    assert refused.status_code == 200
    assert "This file is not the PDF or image its name says." in refused.content.decode()
    accepted = client.post(url, {"body": "See attached.", "attachment": upload("a.pdf", PDF_BYTES)})
    assert accepted.status_code == 302
    assert Attachment.objects.get(message__thread=thread).original_name == "a.pdf"


# --- Downloading -------------------------------------------------------------------------


def test_the_patient_downloads_an_attachment_with_safe_headers(maria, with_pdf):
    response = client_for(maria, committing=True).get(portal_url(with_pdf))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Disposition"] == 'attachment; filename="Lab results.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_hostile_original_name_cannot_break_the_header(maria, fiona, chart):
    thread = start_thread(fiona, chart, attachments=[checked('x"\r\nSet-Cookie: a=b;.pdf')])
    attachment = Attachment.objects.get(message__thread=thread)
    response = client_for(maria, committing=True).get(portal_url(attachment))
    disposition = response["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition == 'attachment; filename="x_Set-Cookie_ a=b_.pdf"'


def test_the_thread_links_its_attachments(maria, with_pdf):
    content = client_for(maria, committing=True).get(
        f"/portal/messages/{with_pdf.message.thread_id}/"
    )
    assert f'href="{portal_url(with_pdf)}"' in content.content.decode()
    assert "Lab results.pdf" in content.content.decode()


def test_another_patients_attachment_is_a_404(bob_chart, with_pdf):
    bob = bob_chart.access_grants.get().user
    assert client_for(bob, committing=True).get(portal_url(with_pdf)).status_code == 404


def test_the_outsider_from_another_clinic_gets_a_404_for_an_attachment(
    charlie, charlie_chart, with_pdf, outsider_staff
):
    assert client_for(charlie, committing=True).get(portal_url(with_pdf)).status_code == 404
    assert client_for(outsider_staff, committing=True).get(admin_url(with_pdf)).status_code == 404


def test_a_representative_without_the_messages_scope_cannot_download(rita, chart, with_pdf):
    response = client_for(rita, chart, committing=True).get(portal_url(with_pdf))
    assert response.status_code == 403
    assert not hasattr(response, "streaming_content")


def test_a_signed_out_visitor_cannot_download(with_pdf):
    response = host_client("demo").get(portal_url(with_pdf))
    assert response.status_code == 302


def test_staff_download_through_the_admin_with_the_same_headers(fiona, with_pdf):
    response = client_for(fiona, committing=True).get(admin_url(with_pdf))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Disposition"] == 'attachment; filename="Lab results.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]


def test_a_file_missing_from_disk_is_a_404_not_an_error(maria, with_pdf):
    attachment_storage().delete(with_pdf.file.name)
    assert client_for(maria, committing=True).get(portal_url(with_pdf)).status_code == 404
