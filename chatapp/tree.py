"""Versions of messages, stored as a tree, and the one path a page shows.

A user message follows an answer (``Message.parent``; None for the first
question) and an answer replies to a user message (``Message.reply_to``).
Messages with the same parent are versions of each other: the questions
sent after one answer (Edit & resend adds one) and the answers to one
question (Regenerate and Retry add one). The conversation shows one path
from a first question down to ``Conversation.active_leaf``, the message the
owner last sent, regenerated or switched to; below the leaf (a switch lands
on a version that has later turns) the path goes on through the most
recently chosen, else the newest, version at each step.

Only ids, links and dates are read to find the path (one query); the rows of
the path are read after it (one more). ``shown_ids`` finds the paths of many
conversations at once (search). Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from chatapp.models import Conversation, Message


@dataclass(frozen=True, slots=True)
class Versions:
    """Where a message stands among its versions, for the "2/3" switcher."""

    index: int  # from 1, oldest first
    count: int
    previous: UUID | None
    next: UUID | None
    # Stable across the versions (their parent's id): the switcher's buttons
    # keep their ids when the page swaps one version for another.
    group: str

    @property
    def label(self) -> str:
        return f"Version {self.index} of {self.count}"


@dataclass(frozen=True, slots=True)
class Node:
    id: UUID
    role: str
    up: UUID | None  # the parent (user message) or the question (answer)
    created_at: datetime
    chosen_at: datetime | None

    @property
    def rank(self) -> tuple[datetime, datetime, str]:
        """The version the path goes through: chosen last, else newest."""
        return (self.chosen_at or self.created_at, self.created_at, str(self.id))


class Tree:
    """The links of one conversation's messages."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = {n.id: n for n in nodes}
        self.below: dict[UUID | None, list[Node]] = defaultdict(list)
        for node in sorted(nodes, key=lambda n: (n.created_at, str(n.id))):
            # A link to a message not in the tree (none should be) starts a root.
            self.below[node.up if node.up in self.nodes else None].append(node)

    @classmethod
    def of(cls, conversation_id: UUID) -> Tree:
        return cls(
            [node for _, node in _nodes(Message.objects.filter(conversation_id=conversation_id))]
        )

    def up_to(self, message_id: UUID) -> list[UUID]:
        """The path from its first question down to ``message_id``, both included."""
        path: list[UUID] = []
        at: UUID | None = message_id
        while at is not None and at in self.nodes and at not in path:
            path.append(at)
            at = self.nodes[at].up
        return path[::-1]

    def down_from(self, message_id: UUID | None) -> list[UUID]:
        """The path below ``message_id`` (None: from the roots), each step
        through the most recently chosen or newest version."""
        path: list[UUID] = []
        at = message_id
        while self.below.get(at):
            at = max(self.below[at], key=lambda n: n.rank).id
            path.append(at)
        return path

    def path(self, leaf: UUID | None) -> list[UUID]:
        """The path a page shows for ``leaf`` (the conversation's active leaf)."""
        if leaf is None or leaf not in self.nodes:
            return self.down_from(None)
        return [*self.up_to(leaf), *self.down_from(leaf)]

    def versions(self, message_id: UUID) -> Versions | None:
        node = self.nodes[message_id]
        group = self.below[node.up if node.up in self.nodes else None]
        if len(group) < 2:
            return None
        i = next(i for i, n in enumerate(group) if n.id == message_id)
        return Versions(
            index=i + 1,
            count=len(group),
            previous=group[i - 1].id if i > 0 else None,
            next=group[i + 1].id if i + 1 < len(group) else None,
            group=str(node.up or "root"),
        )


def _nodes(messages: QuerySet[Message]) -> Iterable[tuple[UUID, Node]]:
    """Each message's conversation and node: only ids, links and dates are read."""
    rows = messages.order_by().values_list(
        "conversation_id", "id", "role", "parent_id", "reply_to_id", "created_at", "chosen_at"
    )
    answer = Message.Role.ASSISTANT
    for conversation_id, mid, role, parent, reply_to, made, chosen in rows:
        yield conversation_id, Node(mid, role, reply_to if role == answer else parent, made, chosen)


def shown_ids(conversations: QuerySet[Conversation]) -> set[UUID]:
    """The ids of the messages the pages of ``conversations`` show (their
    active paths), in two queries whatever their number, on the queryset's
    database: what search may find (chatapp/search.py)."""
    leaves = dict(conversations.values_list("id", "active_leaf_id"))
    messages = Message.objects.using(conversations.db).filter(conversation__in=conversations)
    nodes: dict[UUID, list[Node]] = defaultdict(list)
    for conversation_id, node in _nodes(messages):
        nodes[conversation_id].append(node)
    return {i for cid, leaf in leaves.items() for i in Tree(nodes[cid]).path(leaf)}


def active_path(conversation: Conversation) -> list[Message]:
    """The messages a page shows, first question first, each with its ``versions``."""
    tree = Tree.of(conversation.id)
    ids = tree.path(conversation.active_leaf_id)
    rows = {m.id: m for m in Message.objects.filter(id__in=ids).prefetch_related("attachments")}
    path = [rows[i] for i in ids if i in rows]
    for message in path:
        message.versions = tree.versions(message.id)
    return path


def earlier_on_path(answer: Message) -> list[Message]:
    """What ``answer`` follows on its own branch: its question and every
    message above it, first question first (the answer itself left out)."""
    ids = Tree.of(answer.conversation_id).up_to(answer.id)[:-1]
    rows = {m.id: m for m in Message.objects.filter(id__in=ids)}
    return [rows[i] for i in ids if i in rows]


def leaf_below(conversation: Conversation, message_id: UUID) -> UUID:
    """The end of the path through ``message_id``: where a switch to it lands."""
    below = Tree.of(conversation.id).down_from(message_id)
    return below[-1] if below else message_id


def versions_of(message: Message) -> Versions | None:
    """``message``'s place among its versions (a footer rendered on its own)."""
    return Tree.of(message.conversation_id).versions(message.id)


def send_parent(conversation: Conversation, after: str) -> Message | None:
    """The answer a new question follows: ``after`` when it is an answer of
    this conversation (the last one the sender's page shows), else the last
    answer of the active path (None: the first question)."""
    answers = conversation.messages.filter(role=Message.Role.ASSISTANT)
    if after:
        try:
            return answers.get(id=after)
        except (Message.DoesNotExist, ValueError, ValidationError):
            pass  # a stale or hand-made form: the page's branch is unknown
    tree = Tree.of(conversation.id)
    path = tree.path(conversation.active_leaf_id)
    last = next((i for i in reversed(path) if tree.nodes[i].role == Message.Role.ASSISTANT), None)
    return None if last is None else answers.get(id=last)
