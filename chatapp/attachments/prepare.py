"""Each received file made safe to keep and useful to a model, in memory.

Nothing here touches storage: a refused file leaves no trace. What comes out
is what is stored and what the model reads:

- Images (PNG, JPEG, WebP, GIF's first frame) are decoded, turned upright
  from their EXIF orientation, scaled to ``MAX_IMAGE_SIDE`` at most and
  encoded again from their pixels alone. The stored copy therefore has no
  metadata (GPS, camera, comments), and no bytes of the upload survive: a
  polyglot (an image that is also a script or an archive) loses its other
  half. Images past ``MAX_IMAGE_PIXELS`` are refused before they are
  decoded (Pillow's decompression-bomb limit). The page's thumbnail is
  made from the same clean pixels (``thumbnail.py``).
- Text files are decoded as UTF-8 and kept as sent.
- PDFs are kept as sent; their text is extracted with pypdf. A PDF without a
  text layer is kept, with a note saying the model sees only its name.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps

from chatapp.attachments.errors import AttachmentError
from chatapp.attachments.sniff import Kind, decode_text, promised_by_name, sniff
from chatapp.attachments.thumbnail import Thumbnail, make_thumbnail

# Models read images at up to ~2048 px on the long side (OpenAI scales larger
# ones down itself); sending more only costs bandwidth and tokens.
MAX_IMAGE_SIDE = 2048
# 50 megapixels: above any phone's default photo (12-48 MP), far below what
# would exhaust memory when decoded (a 50 MP RGBA image is 200 MB). Pillow
# warns past this and fails past twice it; Spool refuses past it.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Reading more pages costs seconds for text no context window holds.
MAX_PDF_PAGES = 300
JPEG_QUALITY = 90

# Decoded format -> (stored format, media type, file extension). GIF keeps
# its first frame only, as a PNG (models take still images).
_OUTPUT = {
    "PNG": ("PNG", "image/png", "png"),
    "JPEG": ("JPEG", "image/jpeg", "jpg"),
    "WEBP": ("WEBP", "image/webp", "webp"),
    "GIF": ("PNG", "image/png", "png"),
}

READABLE = (
    "Attach images (PNG, JPEG, WebP, GIF), text files (plain text, Markdown, CSV, "
    "JSON, source code) or PDFs."
)
NO_PDF_TEXT = "No text could be read from this PDF (a scan, perhaps): the model sees only its name."


@dataclass(frozen=True, slots=True)
class Prepared:
    """A file ready to store: ``data`` is what is kept (a re-encoded image,
    else the bytes as sent); ``text`` what the model reads of a text file or PDF;
    ``thumbnail`` what the page shows of an image."""

    name: str
    kind: Kind
    media_type: str
    extension: str
    data: bytes
    width: int | None = None
    height: int | None = None
    text: str = ""
    note: str = ""
    alt: str = ""  # what the sender wrote to describe an image
    thumbnail: Thumbnail | None = None

    @property
    def size(self) -> int:
        return len(self.data)


# Screen readers read alt text whole: a sentence or two, not a caption essay.
MAX_ALT_CHARS = 300


def prepare_all(files: Sequence[UploadedFile[bytes]], alts: Sequence[str] = ()) -> list[Prepared]:
    """Every file prepared, or ``AttachmentError`` for the first that cannot be.
    ``alts[i]`` is the sender's description of image ``i`` (ignored for other files)."""
    prepared = []
    for i, upload in enumerate(files):
        name = upload.name or "file"
        alt = " ".join(alts[i].split()) if i < len(alts) else ""
        if len(alt) > MAX_ALT_CHARS:
            raise AttachmentError(
                f"The description of “{name}” is {len(alt):,} characters long; the limit is "
                f"{MAX_ALT_CHARS}. Shorten it."
            )
        ready = prepare(name, _read(upload))
        prepared.append(dataclasses.replace(ready, alt=alt) if ready.kind is Kind.IMAGE else ready)
    return prepared


def _read(upload: UploadedFile[bytes]) -> bytes:
    upload.seek(0)
    data: bytes = upload.read()
    upload.close()  # a temporary file is deleted at once
    return data


def prepare(name: str, data: bytes) -> Prepared:
    sniffed = sniff(data[:16])
    if sniffed is not None and sniffed.kind is Kind.IMAGE:
        return _image(name, data, sniffed.label)
    if sniffed is not None and sniffed.kind is Kind.PDF:
        return _pdf(name, data)
    text = decode_text(data)
    promised = promised_by_name(name)
    if text is not None and promised is not None:
        raise AttachmentError(
            f"“{name}” is named like a {promised}, but its content is text. "
            f"Nothing was attached. {READABLE}"
        )
    if text is None:
        raise AttachmentError(f"Spool cannot read “{name}”. {READABLE}")
    return Prepared(name, Kind.TEXT, "text/plain", "txt", data, text=text)


def _image(name: str, data: bytes, label: str) -> Prepared:
    damaged = AttachmentError(
        f"“{name}” looks like a {label} but cannot be read: it may be damaged or cut "
        "short. Save it again and attach the new copy."
    )
    try:
        with warnings.catch_warnings():
            # Pillow only warns between the limit and twice it: refuse there too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(_OUTPUT)) as source:
                fmt = source.format or ""
                width, height = source.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise _too_big(name, width, height)
                source.seek(0)  # a GIF's first frame
                source.load()
                image = _upright(source, fmt)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_big(name, None, None) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # Pillow's ways of saying "not a decodable image": truncated data,
        # a broken chunk, a header that lies.
        raise damaged from None
    out_format, media_type, extension = _OUTPUT[fmt]
    buffer = io.BytesIO()
    options = {"quality": JPEG_QUALITY, "optimize": True} if out_format == "JPEG" else {}
    image.save(buffer, format=out_format, **options)
    return Prepared(
        name,
        Kind.IMAGE,
        media_type,
        extension,
        buffer.getvalue(),
        image.width,
        image.height,
        thumbnail=make_thumbnail(image),
    )


def _upright(source: Image.Image, fmt: str) -> Image.Image:
    """The pixels, upright, no larger than ``MAX_IMAGE_SIDE``, in a fresh
    image that carries nothing of the upload's metadata."""
    image = ImageOps.exif_transpose(source) or source
    if fmt == "GIF" or image.mode not in {"RGB", "RGBA", "L", "LA"}:
        has_alpha = image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha and fmt != "JPEG" else "RGB")
    image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    return clean


def _too_big(name: str, width: int | None, height: int | None) -> AttachmentError:
    size = f" ({width:,} x {height:,} pixels)" if width and height else ""
    return AttachmentError(
        f"“{name}” is too large an image{size}: the limit is "
        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels. Scale it down and attach it again."
    )


def _pdf(name: str, data: bytes) -> Prepared:
    # Imported at the first PDF, not at start: pypdf takes ~0.16 s to import,
    # on every process start (a restart's downtime) for a rare file type.
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentError(
                f"“{name}” is password-protected. Attach a copy without a password."
            )
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise AttachmentError(
                f"“{name}” has {len(pages):,} pages; Spool reads PDFs of up to "
                f"{MAX_PDF_PAGES} pages. Attach the part you need."
            )
        texts = [page.extract_text() or "" for page in pages]
    except AttachmentError:
        raise
    except Exception:  # pypdf raises many kinds for a broken file
        raise AttachmentError(
            f"“{name}” looks like a PDF but cannot be read: it may be damaged. "
            "Save it again and attach the new copy."
        ) from None
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    note = "" if text else NO_PDF_TEXT
    return Prepared(name, Kind.PDF, "application/pdf", "pdf", data, text=text, note=note)
