"""The small copy of an image the page shows, made once at upload.

A stored image is up to 2048 px and several megabytes; the page draws it in
a 220 x 160 CSS box (static/css/spool.css, ``.attachment-image img``). The
thumbnail fits twice that box, sharp on high-density screens, as WebP, a few
kilobytes to a few tens. It is made from the image ``prepare.py`` already
turned upright and stripped, so it carries no metadata either.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

# Twice the page's CSS box (220 x 160): one image pixel per device pixel on a
# 2x screen. A change here applies to new uploads only; the page computes an
# older thumbnail's width/height with the new box (``fit``), which keeps its
# aspect, and CSS bounds it anyway.
MAX_WIDTH = 440
MAX_HEIGHT = 320
# WebP's usual default: a photo's thumbnail at ~10-30 KB with no visible loss
# at this size.
WEBP_QUALITY = 80
MEDIA_TYPE = "image/webp"
EXTENSION = "webp"


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """WebP bytes and their size in pixels."""

    data: bytes
    width: int
    height: int


def fit(width: int, height: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled to fit ``MAX_WIDTH`` x ``MAX_HEIGHT``,
    aspect kept, never enlarged, at least 1 x 1. The page uses it for the
    ``<img>``'s size, so it is exactly the size ``make_thumbnail`` makes."""
    scale = min(MAX_WIDTH / width, MAX_HEIGHT / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def make_thumbnail(image: Image.Image) -> Thumbnail:
    """``image`` (upright, metadata-free: ``prepare._upright``'s output) as a
    WebP thumbnail that fits the box."""
    size = fit(image.width, image.height)
    has_alpha = image.mode in {"RGBA", "LA"}
    small = image.convert("RGBA" if has_alpha else "RGB")
    if size != small.size:
        small = small.resize(size, Image.Resampling.LANCZOS)
    # A fresh image: nothing of ``info`` (EXIF, ICC, comments) can ride along.
    clean = Image.new(small.mode, small.size)
    clean.paste(small)
    buffer = io.BytesIO()
    clean.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return Thumbnail(buffer.getvalue(), clean.width, clean.height)
