"""What may be attached to a message: PDFs and images, judged by their content.

The file's first bytes decide what it is (a name ending in ".pdf" proves nothing); the
name must agree with the content; images must also open in Pillow. Anything else is
refused. The original name is cleaned before it is kept or sent back in a download.
"""

import os
import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from PIL import Image


@dataclass(frozen=True)
class Kind:
    name: str
    content_type: str
    extensions: tuple[str, ...]
    signatures: tuple[bytes, ...]
    pillow_format: str | None = None


KINDS = (
    Kind("pdf", "application/pdf", (".pdf",), (b"%PDF-",)),
    Kind("png", "image/png", (".png",), (b"\x89PNG\r\n\x1a\n",), "PNG"),
    Kind("jpeg", "image/jpeg", (".jpg", ".jpeg"), (b"\xff\xd8\xff",), "JPEG"),
    Kind("gif", "image/gif", (".gif",), (b"GIF87a", b"GIF89a"), "GIF"),
)
ALLOWED_EXTENSIONS = tuple(ext for kind in KINDS for ext in kind.extensions)
MAX_NAME_LENGTH = 100
_UNSAFE_NAME_CHARS = re.compile(r'[\\/:*?"<>|;,\x00-\x1f\x7f]+')


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed ``check_upload``; the services accept only these."""

    file: UploadedFile
    name: str
    content_type: str
    size: int


def sniff(head: bytes) -> Kind | None:
    """The kind of file these first bytes start, or None."""
    for kind in KINDS:
        if any(head.startswith(signature) for signature in kind.signatures):
            return kind
    return None


def clean_filename(name: str, kind: Kind | None = None) -> str:
    """A name safe to store and to send in Content-Disposition: no folders, control
    characters or shell and header punctuation; at most 100 characters; ending in an
    extension of ``kind``."""
    name = unicodedata.normalize("NFKC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    stem, ext = os.path.splitext(name)
    ext = ext.lower()
    if kind is not None and ext not in kind.extensions:
        stem, ext = name, kind.extensions[0]
    stem = stem.strip(" .")[: MAX_NAME_LENGTH - len(ext)] or "attachment"
    return f"{stem}{ext}"


def _is_valid_image(upload, kind: Kind) -> bool:
    upload.seek(0)
    try:
        with Image.open(upload) as image:
            if image.format != kind.pillow_format:
                return False
            image.verify()
    except Exception:  # noqa: BLE001 - any failure to decode means "not a usable image"
        return False
    finally:
        upload.seek(0)
    return True


def check_upload(upload: UploadedFile, *, max_mb: int) -> CheckedUpload:
    """Accept a PDF, PNG, JPEG or GIF no larger than ``max_mb``; raise ValidationError."""
    if upload.size > max_mb * 1024 * 1024:
        raise ValidationError(
            _("The file is larger than %(mb)s MB. Attach a smaller file."),
            code="too_large",
            params={"mb": max_mb},
        )
    if upload.size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    ext = os.path.splitext(upload.name or "")[1].lower()
    if ext not in ALLOWED_EXTENSIONS:
        raise ValidationError(
            _("Attach a PDF or an image (PNG, JPEG or GIF)."), code="unsupported_name"
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    kind = sniff(head)
    if kind is None or ext not in kind.extensions:
        raise ValidationError(
            _("This file is not the PDF or image its name says. Attach a PDF or an image."),
            code="unsupported_content",
        )
    if kind.pillow_format and not _is_valid_image(upload, kind):
        raise ValidationError(
            _("This image could not be read. Attach a PDF or another image."),
            code="broken_image",
        )
    return CheckedUpload(
        file=upload,
        name=clean_filename(upload.name, kind),
        content_type=kind.content_type,
        size=upload.size,
    )
