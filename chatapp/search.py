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
from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth.models import User
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.db import connections
from django.db.models import F, Q, QuerySet

from chatapp.models import Conversation, Message

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
    """The user's conversations that match ``query``, best first, one hit each."""
    query = " ".join(query.split())[:MAX_QUERY_CHARS]
    if not query:
        return []
    conversations = Conversation.objects.using(using).filter(user=user, deleted_at__isnull=True)
    messages = Message.objects.using(using).filter(
        conversation__user=user, conversation__deleted_at__isnull=True
    )
    words = query.split()
    hits: dict[UUID, Hit] = {}
    # The text's best match per conversation first (it shows more than the
    # title would), then conversations whose title alone matches.
    if connections[using].vendor == "postgresql":
        found = _postgres_messages(messages, query)
    else:
        found = _substring_messages(messages, words)
    for message_id, conversation_id, title, snippet in found:
        hits.setdefault(conversation_id, Hit(conversation_id, title, message_id, snippet))
    titled = conversations.filter(_all_words("title", words)).order_by("-updated_at")
    for c in titled[:limit]:
        hits.setdefault(c.id, Hit(c.id, c.title, None, _mark(c.title, words)))
    return list(hits.values())[:limit]


def _postgres_messages(
    messages: QuerySet[Message], query: str
) -> list[tuple[UUID, UUID, str, list[Segment]]]:
    search_query = SearchQuery(query, config=_CONFIG, search_type="websearch")
    vector = SearchVector("content", config=_CONFIG)
    rows = (
        # ``@@`` decides what matches; the rank (nonzero for partial matches
        # too) only orders.
        messages.annotate(document=vector)
        .filter(document=search_query)
        .annotate(rank=SearchRank(vector, search_query))
        .annotate(
            headline=SearchHeadline(
                "content",
                search_query,
                config=_CONFIG,
                start_sel=_START,
                stop_sel=_STOP,
                max_words=30,
                min_words=12,
            ),
            title=F("conversation__title"),
        )
        .order_by("-rank", "-created_at")
        .values_list("id", "conversation_id", "title", "headline")[:200]
    )
    return [(mid, cid, title, _segments(headline)) for mid, cid, title, headline in rows]


def _substring_messages(
    messages: QuerySet[Message], words: list[str]
) -> list[tuple[UUID, UUID, str, list[Segment]]]:
    rows = (
        messages.filter(_all_words("content", words))
        .annotate(title=F("conversation__title"))
        .order_by("-created_at")
        .values_list("id", "conversation_id", "title", "content")[:200]
    )
    return [(mid, cid, title, _snippet(content, words)) for mid, cid, title, content in rows]


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
