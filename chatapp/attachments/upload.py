"""The caps, checked while the request body is parsed.

``AttachmentUploadHandler`` comes first in ``FILE_UPLOAD_HANDLERS``: it sees
each file's name and every chunk before Django's own handlers hold them (in
memory, or in a temporary file for large ones), and stops the parse at the
first file past the count or size cap, so the rest of the body is read and
dropped rather than kept. Nothing here writes to storage; the view asks
``upload_problem`` and refuses the whole message when there is one.

Django cleans file names before handlers see them (it drops directories and
control characters), which would hide a name such as ``../x`` or one with a
NUL. The handler therefore runs the parse itself, through a parser that
notes the names it had to clean, and refuses them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParser

from chatapp.attachments.errors import AttachmentError

# Most file systems and browsers stop at 255; longer is a made-up name.
MAX_NAME_CHARS = 255
MB = 1024 * 1024


def max_upload_bytes() -> int:
    return int(settings.SPOOL_MAX_UPLOAD_MB * MB)


def _mb(limit_bytes: int) -> str:
    return f"{limit_bytes / MB:g} MB"


def name_problem(raw: str) -> str | None:
    """Why a file name as sent is refused, or None."""
    shown = "".join(c for c in raw if c.isprintable())[-60:]
    if "/" in raw or "\\" in raw or raw in {".", ".."}:
        return (
            f"The file name “{shown}” contains a folder path. "
            "Rename the file (letters, digits, dots and dashes) and attach it again."
        )
    if any(not c.isprintable() for c in raw):
        return (
            f"The file name “{shown}” contains control characters. "
            "Rename the file and attach it again."
        )
    if len(raw) > MAX_NAME_CHARS:
        return (
            f"A file name is {len(raw):,} characters long; the limit is {MAX_NAME_CHARS}. "
            "Rename the file and attach it again."
        )
    return None


class _NameCheckingParser(MultiPartParser):
    """Django's parser, noting the first file name it had to clean."""

    def __init__(self, *args: Any, handler: AttachmentUploadHandler, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handler = handler

    def sanitize_file_name(self, file_name: str) -> str | None:
        if (problem := name_problem(file_name)) is not None:
            self._handler.refuse(AttachmentError(problem))
        return super().sanitize_file_name(file_name)


class AttachmentUploadHandler(FileUploadHandler):
    """Counts files and bytes as they arrive; passes every chunk on unchanged."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.problem: AttachmentError | None = None
        self.files = 0
        self.received = 0
        self._parsing = False

    def refuse(self, problem: AttachmentError) -> None:
        """Keep the first problem: it is the one the user is told about."""
        if self.problem is None:
            self.problem = problem

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> tuple[Any, Any] | None:
        if self._parsing or self.request is None:
            return None  # the inner parse below: Django's own loop
        self._parsing = True
        handlers = self.request.upload_handlers
        parser = _NameCheckingParser(META, input_data, handlers, encoding, handler=self)
        post, files = parser.parse()
        return post, files

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self.files += 1
        self.received = 0
        limit = settings.SPOOL_MAX_ATTACHMENTS
        if self.files > limit:
            self.refuse(
                AttachmentError(
                    f"A message can carry at most {limit} files. "
                    "Remove some, or send them in another message."
                )
            )
            raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        limit = max_upload_bytes()
        if self.received > limit:
            self.refuse(
                AttachmentError(
                    f"“{self.file_name}” is larger than {_mb(limit)}, the limit per file. "
                    "Attach a smaller file (or a part of it).",
                    status=413,
                )
            )
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        if file_size == 0:
            self.refuse(
                AttachmentError(f"“{self.file_name}” is empty. Attach a file with something in it.")
            )
        # Returns nothing: Django's own handlers hold the data.


def upload_problem(request: HttpRequest) -> AttachmentError | None:
    """The first problem the upload handler met in ``request``'s body, if any.
    Call after ``request.POST``/``FILES`` are parsed (the CSRF check does it)."""
    for handler in request.upload_handlers:
        if isinstance(handler, AttachmentUploadHandler):
            return handler.problem
    return None
