"""Files for the attachment tests, made in the test (no binary fixtures)."""

from __future__ import annotations

import io

from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
)

# EXIF tags: Orientation (0x0112) and the GPS IFD pointer (0x8825).
ORIENTATION = 0x0112
GPS_IFD = 0x8825
# Orientation 6: the camera was turned; the picture must be rotated 90° clockwise.
ROTATE_CW = 6


def image_bytes(width: int, height: int, fmt: str = "PNG", color: str = "steelblue") -> bytes:
    buffer = io.BytesIO()
    mode = "RGB" if fmt == "JPEG" else "RGBA"
    Image.new(mode, (width, height), color).save(buffer, format=fmt)
    return buffer.getvalue()


def rotated_jpeg_with_gps(width: int = 40, height: int = 20) -> bytes:
    """A landscape JPEG (left half red, right half blue) whose EXIF says to turn
    it upright by 90° clockwise, with a GPS position in its EXIF."""
    image = Image.new("RGB", (width, height), "blue")
    image.paste(Image.new("RGB", (width // 2, height), "red"), (0, 0))
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_CW
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("P", (16, 8), i) for i in (1, 2, 3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return buffer.getvalue()


def bomb_png() -> bytes:
    """A 1-bit PNG of 100 megapixels: a few kilobytes on the wire, hundreds of
    megabytes once decoded to colour."""
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000), 0).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF that says ``text`` in Helvetica (a real text layer)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=300, height=200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    page[NameObject("/MediaBox")] = ArrayObject([NumberObject(n) for n in (0, 0, 300, 200)])
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def blank_pdf() -> bytes:
    """A PDF with a page and no text layer (as a scan without OCR would be)."""
    writer = PdfWriter()
    writer.add_blank_page(width=300, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
