"""chatapp/attachments/prepare.py and sniff.py: what each kind of file becomes,
and every file refused (with the reason the user reads)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from chatapp.attachments.errors import AttachmentError
from chatapp.attachments.prepare import MAX_IMAGE_SIDE, NO_PDF_TEXT, prepare
from chatapp.attachments.sniff import Kind
from tests.support.attachments import (
    animated_gif,
    blank_pdf,
    bomb_png,
    image_bytes,
    pdf_with_text,
    rotated_jpeg_with_gps,
)


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_a_jpeg_is_turned_upright_and_loses_its_exif_gps_included() -> None:
    original = rotated_jpeg_with_gps(40, 20)
    assert _open(original).getexif()  # orientation and GPS are there to start with

    prepared = prepare("holiday.jpg", original)

    assert (prepared.kind, prepared.media_type) == (Kind.IMAGE, "image/jpeg")
    assert (prepared.width, prepared.height) == (20, 40)  # turned: portrait now
    stored = _open(prepared.data)
    assert stored.size == (20, 40)
    assert not stored.getexif()
    assert "exif" not in stored.info
    red, _, blue = stored.getpixel((10, 3))  # type: ignore[misc]
    assert red > 200
    assert blue < 60
    red, _, blue = stored.getpixel((10, 36))  # type: ignore[misc]
    assert blue > 200
    assert red < 60


def test_a_large_image_is_scaled_to_2048_on_its_long_side() -> None:
    prepared = prepare("wide.png", image_bytes(4096, 1024))
    assert (prepared.width, prepared.height) == (MAX_IMAGE_SIDE, 512)
    assert _open(prepared.data).size == (MAX_IMAGE_SIDE, 512)


def test_a_gif_keeps_its_first_frame_as_a_png() -> None:
    prepared = prepare("anim.gif", animated_gif())
    assert prepared.media_type == "image/png"
    assert getattr(_open(prepared.data), "n_frames", 1) == 1


def test_webp_stays_webp() -> None:
    prepared = prepare("p.webp", image_bytes(30, 30, "WEBP"))
    assert (prepared.media_type, prepared.extension) == ("image/webp", "webp")


def test_a_polyglot_loses_what_follows_the_image() -> None:
    payload = b"<script>alert(1)</script>PK\x03\x04"
    prepared = prepare("both.png", image_bytes(20, 20) + payload)
    assert b"<script>" not in prepared.data
    assert b"PK\x03\x04" not in prepared.data


def test_png_text_chunks_are_not_kept() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret location")
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), "red").save(buffer, format="PNG", pnginfo=info)
    prepared = prepare("c.png", buffer.getvalue())
    assert b"secret location" not in prepared.data


def test_the_type_comes_from_the_content_not_the_name() -> None:
    prepared = prepare("photo.txt", image_bytes(10, 10))
    assert prepared.kind is Kind.IMAGE


def test_text_is_decoded_and_kept_as_sent() -> None:
    data = b"name,qty\nflour,2\n"
    prepared = prepare("list.csv", data)
    assert (prepared.kind, prepared.text, prepared.data) == (Kind.TEXT, data.decode(), data)


def test_a_pdf_gives_its_text() -> None:
    prepared = prepare("report.pdf", pdf_with_text("Quarterly revenue grew"))
    assert prepared.kind is Kind.PDF
    assert "Quarterly revenue grew" in prepared.text
    assert prepared.note == ""


def test_a_pdf_without_text_is_kept_and_says_so() -> None:
    prepared = prepare("scan.pdf", blank_pdf())
    assert (prepared.kind, prepared.text, prepared.note) == (Kind.PDF, "", NO_PDF_TEXT)


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("page.png", b"<!doctype html><script>alert(1)</script>", "named like a PNG image"),
        ("run.jpg", b"#!/bin/sh\nrm -rf /\n", "named like a JPEG image"),
        ("cut.png", image_bytes(200, 200)[:120], "cannot be read"),
        ("cut.jpg", image_bytes(200, 200, "JPEG")[:300], "cannot be read"),
        ("bomb.png", bomb_png(), "too large an image"),
        ("broken.pdf", b"%PDF-1.7\n this is not a pdf", "cannot be read"),
        ("app.exe", b"MZ\x90\x00\x03\x00\x00\x00" * 10, "cannot read"),
        ("archive.zip", b"PK\x03\x04" + bytes(range(256)), "cannot read"),
    ],
)
def test_refused_files_say_why(name: str, data: bytes, says: str) -> None:
    with pytest.raises(AttachmentError) as refused:
        prepare(name, data)
    assert says in refused.value.message
    assert name in refused.value.message
