"""chatapp/migrations/0010_versions_from_flat_lists.py: a flat list becomes one branch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("chatapp", "0009_message_versions")]
AFTER = [("chatapp", "0010_versions_from_flat_lists")]


def test_existing_conversations_get_parents_in_created_order() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    User = apps.get_model("auth", "User")
    Conversation = apps.get_model("chatapp", "Conversation")
    Message = apps.get_model("chatapp", "Message")
    user = User.objects.create(username="old-timer")
    c = Conversation.objects.create(user=user, model="demo", title="Before versions")
    start = timezone.now()
    made: dict[str, Any] = {}

    def add(name: str, role: str, reply_to: str | None = None, **fields: str) -> None:
        m = Message.objects.create(
            conversation=c, role=role, content=name,
            reply_to=made[reply_to] if reply_to else None, **fields,
        )  # fmt: skip
        Message.objects.filter(id=m.id).update(created_at=start + timedelta(seconds=len(made)))
        made[name] = m

    # The flat list as the old Retry left it: a failed answer, its retry below it.
    add("q1", "user")
    add("a1", "assistant", "q1", status="failed")
    add("a1 retried", "assistant", "q1")
    add("q2", "user")
    add("a2", "assistant", "q2")
    add("q3", "user")
    add("a3", "assistant", "q3")
    empty = Conversation.objects.create(user=user, model="demo", title="No messages")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    Message = apps.get_model("chatapp", "Message")
    Conversation = apps.get_model("chatapp", "Conversation")
    parents = dict(
        Message.objects.filter(conversation_id=c.id, role="user").values_list("content", "parent")
    )
    ids = {m.content: m.id for m in Message.objects.filter(conversation_id=c.id)}
    assert parents == {"q1": None, "q2": ids["a1 retried"], "q3": ids["a2"]}
    assert Conversation.objects.get(id=c.id).active_leaf_id == ids["a3"]
    assert Conversation.objects.get(id=empty.id).active_leaf_id is None

    # With today's code (and today's schema: the migrations after this one too):
    # the page shows the list as it was, the failed try a version.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from chatapp import selectors
    from chatapp.models import Conversation as Live

    path = selectors.conversation_messages(conversation=Live.objects.get(id=c.id))
    assert [m.content for m in path] == ["q1", "a1 retried", "q2", "a2", "q3", "a3"]
    assert path[1].versions is not None
    assert path[1].versions.label == "Version 2 of 2"
