"""A conversation's title: its first words, then the model's proposal, or its owner's name.

A conversation starts titled with the first words of its first message
(``first_words``). Its first answer's run also asks the model for a short
title (``title_job``; the request itself is ``streaming/runs/titles.py``'s),
which the run store saves with the answer (``title_save``) unless the owner
has named the conversation meanwhile: a name the owner gave is never
overwritten. The run then emits a ``title`` event and the page swaps the new
title into the list, the heading and ``<title>`` (``chatapp/projection.py``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db.models import Subquery

from chatapp.models import Conversation, Message
from streaming.runs.titles import TitleJob

# The sidebar shows this much of the first message as the conversation's title.
TITLE_CHARS = 80


def first_words(text: str) -> str:
    """The fallback title: the message on one line, cut at ``TITLE_CHARS``."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def title_job(
    *, conversation: Conversation, answer: Message, reasoning: bool = False
) -> TitleJob | None:
    """The title request for ``answer``'s run, when it answers the
    conversation's first question and the conversation still bears that
    question's first words (not a title already proposed, not its owner's).
    ``reasoning``: the answer's model is configured as a reasoning model
    (asked for a title with low effort and room to think)."""
    question = answer.reply_to
    if not settings.SPOOL_TITLES or question is None:
        return None
    if conversation.title_source != Conversation.TitleSource.FIRST_WORDS:
        return None
    if conversation.title != first_words(question.content):
        return None  # named before titles were tracked
    earlier = Message.objects.filter(
        conversation=conversation, role=Message.Role.USER, created_at__lt=question.created_at
    )
    return None if earlier.exists() else TitleJob(question.content, reasoning=reasoning)


def title_save(*, using: str, answer_id: uuid.UUID, title: str) -> bool:
    """Save the model's title on the answer's conversation unless it was
    named meanwhile (one conditional UPDATE). Not activity: the conversation
    keeps its place in the list. Returns whether it was saved."""
    conversation_id = (
        Message.objects.using(using).filter(id=answer_id).values("conversation_id")[:1]
    )
    saved = (
        Conversation.objects.using(using)
        .filter(id=Subquery(conversation_id), title_source=Conversation.TitleSource.FIRST_WORDS)
        .update(title=title, title_source=Conversation.TitleSource.MODEL)
    )
    return bool(saved)
