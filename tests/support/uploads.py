"""Multipart posts built byte by byte: file names exactly as a client may send
them (HTTP clients escape control characters and quotes; an attacker does not)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.support.client import SpoolClient

# (file name, content, the Content-Type the client claims)
FileSpec = tuple[str, bytes, str]


def multipart(fields: dict[str, str], files: Sequence[FileSpec]) -> tuple[bytes, str]:
    """The body and its Content-Type: fields first (as a form sends them), then files."""
    boundary = f"spool{uuid.uuid4().hex}"
    out = bytearray()
    for key, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, data, content_type in files:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'.encode()
        out += f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def post_files(
    client: SpoolClient,
    url: str,
    text: str,
    files: Sequence[FileSpec],
    *,
    htmx: bool = True,
    fields: dict[str, str] | None = None,
    **more: str,
) -> httpx.Response:
    """``fields`` or ``more``: form fields besides the text (a model, alt-N)."""
    body, content_type = multipart(
        {"csrfmiddlewaretoken": client.csrf(), "text": text, **(fields or {}), **more}, files
    )
    headers = {"Content-Type": content_type}
    if htmx:
        headers["HX-Request"] = "true"
    return client.http.post(url, content=body, headers=headers)


def attachment_urls(html: str) -> list[str]:
    """The attachment links of a page or fragment, in order, once each."""
    return list(dict.fromkeys(re.findall(r'href="(/a/[0-9a-f-]+)"', html)))


def stored_files(var_dir: Path) -> list[Path]:
    root = var_dir / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
