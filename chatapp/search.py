"""Search across one user's conversations: titles and message text.

PostgreSQL's full-text search when the database is PostgreSQL (stemmed, so
"running" finds "run"; web-search syntax: "quoted phrases", -excluded, or),
a case-insensitive substring match of every word elsewhere (SQLite). Either
way the snippet is plain text split into segments, the matches marked, so
the template escapes every character of it: nothing from the data is ever
HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth.models import User
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.db import connections
from django.db.models import F, Q, QuerySet

from chatapp.models import Conversation, Message
from chatapp.tree import shown_ids

MAX_QUERY_CHARS = 200
SNIPPET_CHARS = 160
# Marks PostgreSQL puts around a match in its headline: control characters
# that text does not contain (a stray one would only misplace a highlight:
# every segment is escaped), turned into segments, never into markup.
_START, _STOP = "\x02", "\x03"
_CONFIG = "english"

Segment = tuple[str, bool]  # (text, is a match)


@dataclass(frozen=True, slots=True)
class Hit:
    conversation_id: UUID
    title: str
    message_id: UUID | None  # None: the title matched
    snippet: list[Segment]


def search(*, user: User, query: str, using: str = "default", limit: int = 50) -> list[Hit]:
    """The user's conversations that match ``query``, best first, one hit each.

    Only the messages a conversation's page shows are searched (its active
    path, chatapp/tree.py): another version of a message, or the turns of a
    branch switched away from, would give a result that links to text the
    page does not have.
    """
    query = " ".join(query.split())[:MAX_QUERY_CHARS]
    if not query:
        return []
    conversations = Conversation.objects.using(using).filter(user=user, deleted_at__isnull=True)
    messages = Message.objects.using(using).filter(
        conversation__user=user, conversation__deleted_at__isnull=True
    )
    words = query.split()
    postgres = connections[using].vendor == "postgresql"
    matching = _postgres_match(messages, query) if postgres else _substring_match(messages, words)
    # Ids only, best first: the conversations' paths decide which are shown,
    # and only the chosen ones (one per conversation) get their snippet.
    found = list(matching.values_list("id", "conversation_id"))
    shown = shown_ids(conversations.filter(id__in=matching.values("conversation_id")))
    best: dict[UUID, UUID] = {}
    for message_id, conversation_id in found:
        if message_id in shown and len(best) < limit:
            best.setdefault(conversation_id, message_id)
    snippets = (
        _postgres_snippets(messages, query, best.values())
        if postgres
        else _substring_snippets(messages, words, best.values())
    )
    hits: dict[UUID, Hit] = {}
    # The text's best match per conversation first (it shows more than the
    # title would), then conversations whose title alone matches.
    for conversation_id, message_id in best.items():
        title, snippet = snippets[message_id]
        hits[conversation_id] = Hit(conversation_id, title, message_id, snippet)
    titled = conversations.filter(_all_words("title", words)).order_by("-updated_at")
    for c in titled[:limit]:
        hits.setdefault(c.id, Hit(c.id, c.title, None, _mark(c.title, words)))
    return list(hits.values())[:limit]


def _postgres_match(messages: QuerySet[Message], query: str) -> QuerySet[Message]:
    search_query = SearchQuery(query, config=_CONFIG, search_type="websearch")
    vector = SearchVector("content", config=_CONFIG)
    return (
        # ``@@`` decides what matches; the rank (nonzero for partial matches
        # too) only orders.
        messages.annotate(document=vector)
        .filter(document=search_query)
        .annotate(rank=SearchRank(vector, search_query))
        .order_by("-rank", "-created_at")
    )


def _postgres_snippets(
    messages: QuerySet[Message], query: str, ids: Iterable[UUID]
) -> dict[UUID, tuple[str, list[Segment]]]:
    headline = SearchHeadline(
        "content",
        SearchQuery(query, config=_CONFIG, search_type="websearch"),
        config=_CONFIG,
        start_sel=_START,
        stop_sel=_STOP,
        max_words=30,
        min_words=12,
    )
    rows = (
        messages.filter(id__in=list(ids))
        .annotate(headline=headline, title=F("conversation__title"))
        .values_list("id", "title", "headline")
    )
    return {mid: (title, _segments(text)) for mid, title, text in rows}


def _substring_match(messages: QuerySet[Message], words: list[str]) -> QuerySet[Message]:
    return messages.filter(_all_words("content", words)).order_by("-created_at")


def _substring_snippets(
    messages: QuerySet[Message], words: list[str], ids: Iterable[UUID]
) -> dict[UUID, tuple[str, list[Segment]]]:
    rows = (
        messages.filter(id__in=list(ids))
        .annotate(title=F("conversation__title"))
        .values_list("id", "title", "content")
    )
    return {mid: (title, _snippet(content, words)) for mid, title, content in rows}


def _all_words(field: str, words: list[str]) -> Q:
    condition = Q()
    for word in words:
        condition &= Q(**{f"{field}__icontains": word})
    return condition


def _segments(headline: str) -> list[Segment]:
    """PostgreSQL's headline, its marks turned into segments."""
    segments: list[Segment] = []
    for i, part in enumerate(re.split(f"[{_START}{_STOP}]", headline)):
        if part:
            segments.append((part, i % 2 == 1))
    return segments


def _snippet(text: str, words: list[str]) -> list[Segment]:
    """About ``SNIPPET_CHARS`` of ``text`` around its first match, matches marked."""
    text = " ".join(text.split())
    lowered = text.lower()
    first = min((i for w in words if (i := lowered.find(w.lower())) >= 0), default=0)
    start = max(0, first - SNIPPET_CHARS // 3)
    if start:
        start = text.find(" ", start) + 1 or start  # whole words
    window = text[start : start + SNIPPET_CHARS]
    segments = _mark(window, words)
    if start:
        segments.insert(0, ("… ", False))
    if start + SNIPPET_CHARS < len(text):
        segments.append((" …", False))
    return segments


def _mark(text: str, words: list[str]) -> list[Segment]:
    pattern = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    segments: list[Segment] = []
    at = 0
    for match in re.finditer(pattern, text, flags=re.IGNORECASE):
        if match.start() > at:
            segments.append((text[at : match.start()], False))
        segments.append((match.group(), True))
        at = match.end()
    if at < len(text):
        segments.append((text[at:], False))
    return segments
