"""Sending a document of the record back: always a download, never shown by the
browser, never cached (the same response as a message attachment's,
``messaging.downloads``; features do not import each other)."""

from django.http import FileResponse, Http404
from django.utils.text import slugify

from portal.core.http import no_store


def document_filename(document) -> str:
    return f"{slugify(document.title)[:80] or 'document'}.pdf"


def document_response(document):
    """The PDF as a download named after its title. Call only after the reader's access
    was checked."""
    try:
        handle = document.file.storage.open(document.file.name, "rb")
    except FileNotFoundError as missing:
        raise Http404 from missing
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=document_filename(document),
        content_type=document.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return no_store(response)
