"""The send, Retry and Continue checks count a question's attachments (chatapp/services.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from chatapp import continuation, selectors, services, versions
from chatapp.attachments.prepare import prepare
from chatapp.attachments.store import attachments_save
from chatapp.models import Attachment, Conversation, Message
from tests.support.attachments import image_bytes

pytestmark = pytest.mark.django_db

# The demo model's budget here: 16,384 - 4,096 tokens (about 36 KB of text).
LONG_FILE = b"word " * 6_000  # 30 KB: ~10,000 tokens


@pytest.fixture(autouse=True)
def media(tmp_path: Path) -> Iterator[None]:
    with override_settings(MEDIA_ROOT=tmp_path):
        yield


def _failed_answer_to_a_long_file() -> Message:
    user = User.objects.create_user("ada", password="pw-for-tests-1")
    conversation = Conversation.objects.create(user=user, model="demo", title="Long")
    question = Message.objects.create(conversation=conversation, role="user", content="Sum up")
    attachments_save(message=question, files=[prepare("long.txt", LONG_FILE)], stored=[])
    return Message.objects.create(
        conversation=conversation, role="assistant", reply_to=question, model="demo",
        status="failed", error_code="upstream_down", error_message="Down.",
    )  # fmt: skip


def test_retry_counts_the_question_s_attachments() -> None:
    answer = _failed_answer_to_a_long_file()
    conversation = answer.conversation
    # Fits alone: Retry is accepted.
    sent = versions.message_regenerate(message=answer)
    Message.objects.filter(id=sent.assistant_message.id).update(status="failed")
    # New instructions take the room the file needs: Retry says so, nothing is written.
    conversation.system_prompt = "Be thorough. " * 700  # ~3,000 tokens
    conversation.save()
    before = Message.objects.count()
    with pytest.raises(services.SendError) as refused:
        versions.message_regenerate(message=Message.objects.get(id=answer.id))
    assert "too long for this model" in refused.value.message
    assert Message.objects.count() == before


def test_edit_and_resend_keeps_the_question_s_attachments() -> None:
    answer = _failed_answer_to_a_long_file()
    question = answer.reply_to
    assert question is not None
    Message.objects.filter(id=answer.id).update(status="complete", content="A summary.")
    sent = versions.message_edit(message=question, text="Sum up in one line")
    edited = sent.user_message
    assert edited is not None
    copied = edited.attachments.get()
    original = question.attachments.get()
    assert copied.id != original.id
    assert (copied.file.name, copied.text) == (original.file.name, original.text)
    # The model reads the file with the edited question.
    prompt = selectors.prompt_for(answer=sent.assistant_message, system="", budget=100_000)
    assert prompt.messages[-1].content == "Sum up in one line"
    assert prompt.messages[-1].parts, "the attachment went with the edited question"


def test_an_image_for_a_model_without_vision_is_refused_before_anything_is_written() -> None:
    user = User.objects.create_user("bob", password="pw-for-tests-1")
    with override_settings(SPOOL_LLM_BASE_URL="http://127.0.0.1:9", SPOOL_LLM_MODELS=["text-only"]):
        with pytest.raises(services.SendError) as refused:
            services.conversation_start(
                user=user,
                text="Look",
                model="text-only",
                files=[prepare("a.png", image_bytes(8, 8))],
            )
        assert "does not read images" in refused.value.message
        assert not Conversation.objects.exists()
        # With the model named in SPOOL_LLM_VISION_MODELS it goes through.
        with override_settings(SPOOL_LLM_VISION_MODELS=["text-only"]):
            sent = services.conversation_start(
                user=user,
                text="Look",
                model="text-only",
                files=[prepare("a.png", image_bytes(8, 8))],
            )
        assert sent.user_message is not None
        assert sent.user_message.attachments.count() == 1


def _answered_question_with(user: User, model: str, name: str, data: bytes) -> Message:
    """A question with one attachment, answered: what Edit & resend starts from."""
    conversation = Conversation.objects.create(user=user, model=model, title="Q")
    question = Message.objects.create(conversation=conversation, role="user", content="Look")
    attachments_save(message=question, files=[prepare(name, data)], stored=[])
    Message.objects.create(
        conversation=conversation, role="assistant", reply_to=question, model=model,
        status="complete", content="Seen.",
    )  # fmt: skip
    return question


def test_an_edit_whose_image_the_model_no_longer_reads_is_refused() -> None:
    """The model read images when the question was asked; now it does not (its
    server's options changed). Edit & resend would carry the image over to a
    new question the model is never shown it with: refused, as a send is."""
    user = User.objects.create_user("cy", password="pw-for-tests-1")
    vision = {"SPOOL_LLM_BASE_URL": "http://127.0.0.1:9", "SPOOL_LLM_MODELS": ["seer"]}
    with override_settings(**vision, SPOOL_LLM_VISION_MODELS=["seer"]):
        question = _answered_question_with(user, "seer", "chart.png", image_bytes(8, 8))
    before = (Message.objects.count(), Attachment.objects.count())
    with (
        override_settings(**vision, SPOOL_LLM_VISION_MODELS=[]),
        pytest.raises(services.SendError) as refused,
    ):
        versions.message_edit(message=question, text="Look again")
    said = refused.value.message
    assert "does not read images" in said, said
    assert "“chart.png”" in said, said
    assert refused.value.status == 422
    assert (Message.objects.count(), Attachment.objects.count()) == before


def test_an_edit_whose_file_no_longer_fits_is_refused_before_anything_is_written() -> None:
    answer = _failed_answer_to_a_long_file()
    question = answer.reply_to
    assert question is not None
    conversation = answer.conversation
    conversation.system_prompt = "Be thorough. " * 700  # ~3,000 tokens: the file no longer fits
    conversation.save()
    Message.objects.filter(id=answer.id).update(status="complete", content="A summary.")
    before = Message.objects.count()
    with pytest.raises(services.SendError) as refused:
        versions.message_edit(message=question, text="Sum up in one line")
    assert "too long for this model" in refused.value.message
    assert Message.objects.count() == before


def test_an_attachment_alone_can_be_edited_and_resent() -> None:
    """A question that was only a file stays one: an empty edit resends the file."""
    user = User.objects.create_user("di", password="pw-for-tests-1")
    question = _answered_question_with(user, "demo", "notes.txt", b"Bring snacks.\n")
    Message.objects.filter(id=question.id).update(content="")
    question.refresh_from_db()
    sent = versions.message_edit(message=question, text="  ")
    assert sent.user_message is not None
    assert sent.user_message.content == ""
    assert sent.user_message.attachments.get().name == "notes.txt"


def test_regenerate_retry_and_continue_of_an_image_the_model_no_longer_reads_are_refused() -> None:
    """As Edit & resend: the question answered again has an image the model
    would be sent as the "left out" note. Refused, nothing written."""
    user = User.objects.create_user("ed", password="pw-for-tests-1")
    vision = {"SPOOL_LLM_BASE_URL": "http://127.0.0.1:9", "SPOOL_LLM_MODELS": ["seer"]}
    with override_settings(**vision, SPOOL_LLM_VISION_MODELS=["seer"]):
        question = _answered_question_with(user, "seer", "chart.png", image_bytes(8, 8))
    answer = question.replies.get()
    stopped = Message.objects.create(
        conversation=question.conversation, role="assistant", reply_to=question, model="seer",
        status="stopped", content="The chart shows",
    )  # fmt: skip
    before = Message.objects.count()
    with override_settings(**vision, SPOOL_LLM_VISION_MODELS=[]):
        actions: list[Callable[[], object]] = [
            partial(versions.message_regenerate, message=answer),
            partial(continuation.message_continue, message=stopped),
        ]
        for action in actions:
            with pytest.raises(services.SendError) as refused:
                action()
            said = refused.value.message
            assert "does not read images" in said, said
            assert "“chart.png”" in said, said
            assert "a model that reads images" in said, said
            assert refused.value.status == 422
    assert Message.objects.count() == before
    stopped.refresh_from_db()
    assert stopped.status == "stopped"
