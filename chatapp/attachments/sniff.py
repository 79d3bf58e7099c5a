"""What a file is, told from its content.

The first bytes decide (the formats' magic numbers); the name and the
browser's Content-Type are never trusted. A name is only used to refuse a
file whose content contradicts it: an HTML page named ``photo.png`` is not
an image, and is not let through as text either.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath


class Kind(StrEnum):
    IMAGE = "image"
    TEXT = "text"
    PDF = "pdf"


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: Kind
    media_type: str
    label: str  # how the user calls it: "PNG image", "PDF"


# (magic bytes at offset 0, media type, label)
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "PNG image"),
    (b"\xff\xd8\xff", "image/jpeg", "JPEG image"),
    (b"GIF87a", "image/gif", "GIF image"),
    (b"GIF89a", "image/gif", "GIF image"),
    (b"%PDF-", "application/pdf", "PDF"),
)

# Names that promise a binary format: a file named so must be one.
BINARY_SUFFIXES = {
    ".png": "PNG image",
    ".jpg": "JPEG image",
    ".jpeg": "JPEG image",
    ".gif": "GIF image",
    ".webp": "WebP image",
    ".pdf": "PDF",
}

# A text file has no NUL and hardly any control characters besides
# whitespace; a few stray ones (form feeds in old sources) are tolerated.
MAX_CONTROL_SHARE = 0.01
_ALLOWED_CONTROLS = {"\t", "\n", "\r", "\f", "\v"}


def sniff(head: bytes) -> Sniffed | None:
    """The binary format ``head`` (a file's first bytes) starts with, or None."""
    for magic, media_type, label in _SIGNATURES:
        if head.startswith(magic):
            kind = Kind.PDF if media_type == "application/pdf" else Kind.IMAGE
            return Sniffed(kind, media_type, label)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed(Kind.IMAGE, "image/webp", "WebP image")
    return None


def decode_text(data: bytes) -> str | None:
    """``data`` as text if it is UTF-8 text (a BOM allowed), else None."""
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    controls = sum(1 for c in text if ord(c) < 32 and c not in _ALLOWED_CONTROLS)
    if controls > len(text) * MAX_CONTROL_SHARE:
        return None
    return text


def promised_by_name(name: str) -> str | None:
    """The binary format a file's name promises ("PNG image"), if any."""
    return BINARY_SUFFIXES.get(PurePosixPath(name.lower()).suffix)
