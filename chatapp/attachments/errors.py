"""Why attachments were refused, as a value the composer can show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AttachmentError(Exception):
    """A refused upload: ``message`` says what to do; nothing was stored.

    ``status`` is the response's: 413 for a file over the size cap, 422 for
    anything else the user can change."""

    message: str
    status: int = 422

    def __str__(self) -> str:
        return self.message
