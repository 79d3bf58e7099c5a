"""chatapp/selectors.py: the prompt an answer is given."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from chatapp import selectors
from chatapp.context_budget import TooLong
from chatapp.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation() -> Conversation:
    user = User.objects.create_user("grace")
    return Conversation.objects.create(user=user, model="demo", title="t")


def _ask(conversation: Conversation, text: str, answer: str | None, **status: str) -> Message:
    """A question after the newest answer (the tree of chatapp/tree.py, one branch)."""
    parent = conversation.messages.filter(role="assistant").order_by("created_at").last()
    q = Message.objects.create(conversation=conversation, role="user", content=text, parent=parent)
    if answer is not None:
        Message.objects.create(
            conversation=conversation, role="assistant", reply_to=q, content=answer, **status
        )
    return q


def _pending(conversation: Conversation, question: Message) -> Message:
    return Message.objects.create(
        conversation=conversation, role="assistant", reply_to=question, status="pending"
    )


def test_the_prompt_is_system_then_turns_then_the_question(conversation: Conversation) -> None:
    _ask(conversation, "q1", "a1")
    _ask(conversation, "q2", "broken", status="failed")
    q3 = _ask(conversation, "q3", None)
    fitted = selectors.prompt_for(
        answer=_pending(conversation, q3), system="Answer in French.", budget=10_000
    )
    assert [(m.role, m.content) for m in fitted.messages] == [
        ("system", "Answer in French."),
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),  # its answer failed: the model does not see its broken try
        ("user", "q3"),
    ]
    assert fitted.dropped == 0


def test_a_retry_sees_the_question_not_the_failed_answer_nor_later_turns(
    conversation: Conversation,
) -> None:
    q1 = _ask(conversation, "q1", "failed try", status="failed")
    _ask(conversation, "q2", "a2")
    retry = _pending(conversation, q1)
    fitted = selectors.prompt_for(answer=retry, system="", budget=10_000)
    assert [m.content for m in fitted.messages] == ["q1"]


def test_old_turns_are_dropped_to_fit(conversation: Conversation) -> None:
    for i in range(6):
        _ask(conversation, f"question {i} " + "x" * 300, f"answer {i} " + "y" * 300)
    last = _ask(conversation, "the last question", None)
    fitted = selectors.prompt_for(answer=_pending(conversation, last), system="sys", budget=600)
    contents = [m.content for m in fitted.messages]
    assert contents[0] == "sys"
    assert contents[-1] == "the last question"
    assert fitted.dropped == 8  # four oldest turns (~216 tokens each), question and answer
    assert contents[1].startswith("question 4")
    assert fitted.tokens <= 600


def test_a_question_too_long_alone_raises(conversation: Conversation) -> None:
    q = _ask(conversation, "z" * 3000, None)
    with pytest.raises(TooLong):
        selectors.prompt_for(answer=_pending(conversation, q), system="", budget=100)


def test_the_list_is_grouped_as_people_scan_it() -> None:
    from datetime import date, datetime, timedelta

    from django.utils import timezone

    user = User.objects.create_user("lin")
    today = date(2026, 12, 5)

    def made(title: str, days_ago: int, pinned: bool = False) -> Conversation:
        c = Conversation.objects.create(user=user, model="demo", title=title)
        when = timezone.make_aware(datetime(2026, 12, 5, 12) - timedelta(days=days_ago))
        c.updated_at = when
        c.pinned_at = when if pinned else None
        return c

    conversations = [
        made("pinned", 30, pinned=True),
        made("now", 0),
        made("yesterday", 1),
        made("last week", 7),
        made("long ago", 8),
    ]
    groups = selectors.group_conversations(conversations, today=today)
    assert [(g.label, [c.title for c in g.conversations]) for g in groups] == [
        ("Pinned", ["pinned"]),
        ("Today", ["now"]),
        ("Yesterday", ["yesterday"]),
        ("Previous 7 days", ["last week"]),
        ("Older", ["long ago"]),
    ]
    assert selectors.group_conversations([], today=today) == []
