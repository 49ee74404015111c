"""Sending an attachment back: always a download, never shown by the browser."""

from django.http import FileResponse, Http404

from portal.core.http import no_store


def attachment_response(attachment):
    """The file as a download under its cleaned name, never rendered by the browser.
    Call only after the reader's access was checked."""
    try:
        handle = attachment.file.storage.open(attachment.file.name, "rb")
    except FileNotFoundError as missing:
        raise Http404 from missing
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return no_store(response)
