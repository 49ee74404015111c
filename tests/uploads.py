"""Files people attach: a PDF, images, an executable in disguise, and uploads of them."""

import io

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from messaging.attachments import check_upload
from records.models import Document
from tests.factories import DocumentFactory

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
# The start of a Windows executable ("MZ" header).
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def image_bytes(fmt="PNG", size=(8, 8)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(name, content, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def checked(name="results.pdf", content=PDF_BYTES, max_mb=10):
    """An upload that passed the content check, as a form hands it to the services."""
    return check_upload(upload(name, content), max_mb=max_mb)


def stored_document(patient, content=PDF_BYTES, **fields):
    """A document of ``patient``'s record with its PDF written to the documents' storage
    (``DocumentFactory`` alone writes no file)."""
    field = Document.file.field
    name = field.storage.save(
        field.generate_filename(Document(clinic=patient.clinic), "document.pdf"),
        ContentFile(content),
    )
    return DocumentFactory(patient=patient, file=name, size=len(content), **fields)
