"""chatapp/attachments/thumbnail.py: the page's small WebP copy of an image,
made by prepare.py and stored beside the image by store.py."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from PIL import Image

from chatapp.attachments.prepare import prepare
from chatapp.attachments.store import attachments_save, stored_names
from chatapp.attachments.thumbnail import MAX_HEIGHT, MAX_WIDTH, Thumbnail, fit, make_thumbnail
from chatapp.models import Attachment, Conversation, Message
from tests.support.attachments import image_bytes, rotated_jpeg_with_gps


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _thumbnail(name: str, data: bytes) -> Thumbnail:
    thumbnail = prepare(name, data).thumbnail
    assert thumbnail is not None
    return thumbnail


def test_a_photo_s_thumbnail_is_a_webp_that_fits_the_box() -> None:
    thumbnail = _thumbnail("photo.jpg", image_bytes(1600, 1200, "JPEG"))
    image = _open(thumbnail.data)
    assert image.format == "WEBP"
    assert image.size == (thumbnail.width, thumbnail.height) == (427, 320)
    assert len(thumbnail.data) < 10_000  # a flat colour; a photo is a few tens of KB


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4096, 1024), (440, 110)),  # wide: the width limits (after the 2048 px cap)
        ((1000, 2000), (160, 320)),  # tall: the height limits
        ((880, 640), (440, 320)),  # the box's own aspect: fills it
        ((3000, 1), (440, 1)),  # a hairline keeps a pixel
    ],
)
def test_the_aspect_is_kept(size: tuple[int, int], expected: tuple[int, int]) -> None:
    thumbnail = _thumbnail("wide.png", image_bytes(*size))
    assert _open(thumbnail.data).size == expected
    assert thumbnail.width <= MAX_WIDTH
    assert thumbnail.height <= MAX_HEIGHT


def test_a_small_image_is_never_enlarged() -> None:
    thumbnail = _thumbnail("icon.png", image_bytes(64, 32))
    assert _open(thumbnail.data).size == (64, 32)
    assert fit(64, 32) == (64, 32)


def test_fit_is_the_size_made_so_the_page_can_say_it_without_reading_the_file() -> None:
    for width, height in [(2048, 1536), (2047, 3), (441, 321), (1, 2048), (333, 777)]:
        made = make_thumbnail(Image.new("RGB", (width, height), "white"))
        assert (made.width, made.height) == fit(width, height)
        assert _open(made.data).size == fit(width, height)


def test_the_thumbnail_is_upright_and_carries_no_exif() -> None:
    # Landscape on its side with GPS in its EXIF: red left half, blue right.
    thumbnail = _thumbnail("trip.jpg", rotated_jpeg_with_gps(40, 20))
    image = _open(thumbnail.data).convert("RGB")
    assert image.size == (20, 40)  # upright: portrait
    assert not image.getexif()
    info = _open(thumbnail.data).info
    assert "exif" not in info
    assert "icc_profile" not in info
    assert b"Exif" not in thumbnail.data
    assert b"GPS" not in thumbnail.data
    red, _, blue = image.getpixel((10, 3))  # type: ignore[misc]
    assert (red > 200, blue < 80) == (True, True)


def test_transparency_is_kept() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (50, 50), (255, 0, 0, 0)).save(buffer, format="PNG")
    image = _open(_thumbnail("clear.png", buffer.getvalue()).data)
    assert image.mode == "RGBA"
    assert image.getpixel((25, 25))[3] == 0  # type: ignore[index]


def test_a_gif_s_thumbnail_is_its_first_frame() -> None:
    frames = [Image.new("RGB", (600, 300), color) for color in ("red", "lime", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)

    image = _open(_thumbnail("anim.gif", buffer.getvalue()).data)

    assert image.format == "WEBP"
    assert getattr(image, "n_frames", 1) == 1
    assert image.size == (440, 220)
    red, green, blue = image.convert("RGB").getpixel((220, 110))  # type: ignore[misc]
    assert red > 200
    assert green < 60
    assert blue < 60


def test_only_images_have_one() -> None:
    assert prepare("notes.txt", b"Plain words.\n").thumbnail is None


@pytest.mark.django_db
class TestStored:
    @pytest.fixture(autouse=True)
    def media(self, tmp_path: Path) -> Iterator[None]:
        with override_settings(MEDIA_ROOT=tmp_path):
            yield

    @pytest.fixture
    def question(self) -> Message:
        user = User.objects.create_user("thumbs")
        conversation = Conversation.objects.create(user=user, model="demo", title="Pics")
        return Message.objects.create(conversation=conversation, role="user", content="Look")

    def test_it_is_stored_under_its_own_random_name(
        self, question: Message, tmp_path: Path
    ) -> None:
        stored: list[str] = []
        files = [prepare("chart.png", image_bytes(900, 600)), prepare("a.txt", b"text\n")]
        image, text = attachments_save(message=question, files=files, stored=stored)

        assert image.thumbnail.name
        assert image.thumbnail.name.endswith(".webp")
        assert image.thumbnail.name != image.file.name
        assert "chart" not in image.thumbnail.name
        assert stored == [image.file.name, image.thumbnail.name, text.file.name]
        assert _open((tmp_path / image.thumbnail.name).read_bytes()).size == (440, 293)
        assert Attachment.objects.get(id=image.id).thumbnail_size == (440, 293)
        assert not text.thumbnail
        assert text.thumbnail_size is None

    def test_its_name_is_deleted_with_the_conversation_once(self, question: Message) -> None:
        (image,) = attachments_save(
            message=question, files=[prepare("chart.png", image_bytes(90, 60))], stored=[]
        )
        # An edited question's copy names the same files (versions.carry_over).
        image.pk = None
        image._state.adding = True
        image.save()
        conversations = Conversation.objects.filter(id=question.conversation_id)
        assert stored_names(conversations) == [image.file.name, image.thumbnail.name]
