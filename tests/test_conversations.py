"""chatapp/conversations.py: renaming, pinning, deleting with Undo, purging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.http import Http404
from django.utils import timezone

from chatapp import conversations, selectors, services
from chatapp.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return User.objects.create_user("ada")


def _conversation(user: User, title: str = "Chat") -> Conversation:
    conversation = Conversation.objects.create(user=user, model="demo", title=title)
    Message.objects.create(conversation=conversation, role="user", content="hi")
    return conversation


def test_rename_trims_and_refuses_empty_or_long(user: User) -> None:
    c = _conversation(user)
    conversations.conversation_rename(conversation=c, title="  Trip   to  Lisbon ")
    c.refresh_from_db()
    assert c.title == "Trip to Lisbon"
    with pytest.raises(services.SendError, match="Give the conversation a name"):
        conversations.conversation_rename(conversation=c, title="   ")
    with pytest.raises(services.SendError, match="the limit is 200"):
        conversations.conversation_rename(conversation=c, title="x" * 201)
    c.refresh_from_db()
    assert c.title == "Trip to Lisbon"


def test_pinned_conversations_come_first_without_moving_by_activity(user: User) -> None:
    old = _conversation(user, "old")
    _conversation(user, "middle")
    _conversation(user, "new")
    before = Conversation.objects.get(id=old.id).updated_at
    conversations.conversation_pin(conversation=old, pinned=True)
    assert Conversation.objects.get(id=old.id).updated_at == before, "pinning is not activity"
    assert [c.title for c in selectors.conversation_list(user=user)] == ["old", "new", "middle"]
    conversations.conversation_pin(conversation=old, pinned=False)
    assert [c.title for c in selectors.conversation_list(user=user)] == ["new", "middle", "old"]


def test_a_deleted_conversation_is_gone_at_once_and_comes_back_with_undo(user: User) -> None:
    c = _conversation(user)
    message = c.messages.get()
    conversations.conversation_delete(conversation=c)
    assert list(selectors.conversation_list(user=user)) == []
    with pytest.raises(Http404):
        selectors.conversation_for_user(user=user, conversation_id=c.id)
    with pytest.raises(Http404):
        selectors.message_for_user(user=user, message_id=message.id)

    found = selectors.deleted_conversation_for_user(
        user=user, conversation_id=c.id, since=conversations.undo_deadline()
    )
    conversations.conversation_restore(conversation=found)
    assert selectors.conversation_for_user(user=user, conversation_id=c.id) == c
    assert selectors.message_for_user(user=user, message_id=message.id) == message


def test_undo_expires_and_purge_removes_for_good(user: User, settings) -> None:
    settings.SPOOL_UNDO_DELETE_S = 20
    recent, stale = _conversation(user, "recent"), _conversation(user, "stale")
    conversations.conversation_delete(conversation=recent)
    conversations.conversation_delete(conversation=stale)
    Conversation.objects.filter(id=stale.id).update(
        deleted_at=timezone.now() - timedelta(seconds=21)
    )
    with pytest.raises(Http404):
        selectors.deleted_conversation_for_user(
            user=user, conversation_id=stale.id, since=conversations.undo_deadline()
        )

    assert conversations.conversation_purge_deleted(user_id=user.id) == 1
    assert not Conversation.objects.filter(id=stale.id).exists()
    assert not Message.objects.filter(conversation_id=stale.id).exists()
    assert Conversation.objects.filter(id=recent.id).exists(), "still within Undo"


def test_another_users_deleted_conversation_cannot_be_restored(user: User) -> None:
    c = _conversation(user)
    conversations.conversation_delete(conversation=c)
    mallory = User.objects.create_user("mallory")
    with pytest.raises(Http404):
        selectors.deleted_conversation_for_user(
            user=mallory, conversation_id=c.id, since=conversations.undo_deadline()
        )
    assert conversations.conversation_purge_deleted(user_id=mallory.id) == 0


def test_the_purge_command_removes_every_users_expired_deletions(user: User) -> None:
    from io import StringIO

    from django.core.management import call_command

    other = User.objects.create_user("bob")
    for owner in (user, other):
        c = _conversation(owner)
        conversations.conversation_delete(conversation=c)
    Conversation.objects.update(deleted_at=timezone.now() - timedelta(days=1))
    out = StringIO()
    call_command("purge_deleted", stdout=out)
    assert out.getvalue().strip() == "Purged 2 deleted conversations."
    assert not Conversation.objects.exists()
