"""chatapp/attachments/prompt.py: an image whose stored file is gone becomes a
note the model reads, not a failed send."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from chatapp.attachments.prepare import prepare
from chatapp.attachments.prompt import parts_by_message
from chatapp.attachments.store import attachments_save
from chatapp.models import Conversation, Message
from streaming.providers.base import FilePart, ImagePart
from tests.support.attachments import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(tmp_path: Path) -> Iterator[None]:
    with override_settings(MEDIA_ROOT=tmp_path):
        yield


def test_a_missing_image_is_a_short_note_and_the_rest_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = User.objects.create_user("ada")
    conversation = Conversation.objects.create(user=user, model="demo")
    question = Message.objects.create(conversation=conversation, role="user", content="See")
    files = [prepare(n, image_bytes(40, 30)) for n in ("report.png", "kept.png")]
    gone, _ = attachments_save(message=question, files=files, stored=[])
    (tmp_path / (gone.file.name or "")).unlink()

    with caplog.at_level("WARNING", logger="chatapp.attachments.prompt"):
        missing, present = parts_by_message([question], images=True)[question.id]

    assert isinstance(missing, FilePart)
    assert missing.as_prompt() == (
        '<file name="report.png">\n(Image report.png is no longer available.)\n</file>'
    )
    assert isinstance(present, ImagePart)
    assert present.name == "kept.png"
    assert present.data_url.startswith("data:image/png;base64,")
    assert f"attachment {gone.id}: stored file '{gone.file.name}' is missing" in caplog.text
