from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def spool(request: HttpRequest) -> dict[str, Any]:
    return {
        "open_signup": settings.SPOOL_OPEN_SIGNUP,
        # The composer's attachment hint states the caps the server enforces.
        "max_attachments": settings.SPOOL_MAX_ATTACHMENTS,
        "max_upload_mb": f"{settings.SPOOL_MAX_UPLOAD_MB:g}",
        # Every box that sends a message (the composer, an edit, the instructions)
        # takes what the server accepts: the partials htmx fetches have it too.
        "max_chars": settings.SPOOL_MAX_MESSAGE_CHARS,
    }
