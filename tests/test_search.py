"""chatapp/search.py: one's own conversations, found by title and text, on SQLite
and on PostgreSQL (full-text), with the matches marked and nothing unescaped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from chatapp.models import Conversation, Message
from chatapp.search import Hit, search
from tests.support.databases import postgres_aliases

PG = "search_pg"


@pytest.fixture(scope="module")
def postgres(django_db_blocker: Any) -> Iterator[str]:
    with django_db_blocker.unblock(), postgres_aliases({PG: ""}):
        yield PG


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.django_db),
        pytest.param("postgres", marks=pytest.mark.services),
    ]
)
def using(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return "default"
    return str(request.getfixturevalue("postgres"))


def _conversation(using: str, user: User, title: str, *texts: str) -> Conversation:
    """Questions and answers in turn, linked as sends link them (chatapp/tree.py)."""
    c = Conversation.objects.using(using).create(user=user, model="demo", title=title)
    last: Message | None = None
    for text in texts:
        last = _after(using, last, text, conversation=c)
    Conversation.objects.using(using).filter(id=c.id).update(active_leaf=last)
    return c


def _after(using: str, up: Message | None, text: str, *, conversation: Conversation) -> Message:
    """A message below ``up``: an answer to a question, a question after an
    answer (or a first question); another one below the same ``up`` is a version."""
    if up is not None and up.role == "user":
        link = {"role": "assistant", "reply_to": up}
    else:
        link = {"role": "user", "parent": up}
    return Message.objects.using(using).create(conversation=conversation, content=text, **link)


def _users(using: str) -> tuple[User, User]:
    # Unique names: the PostgreSQL database lives for the whole module.
    return (
        User.objects.db_manager(using).create_user(f"ada-{uuid4().hex[:8]}"),
        User.objects.db_manager(using).create_user(f"mallory-{uuid4().hex[:8]}"),
    )


def _text(hit: Hit) -> str:
    return "".join(text for text, _ in hit.snippet)


def test_own_words_are_found_and_marked(using: str) -> None:
    ada, mallory = _users(using)
    garden = _conversation(
        using, ada, "Garden", "When should I plant tomatoes?", "Plant tomatoes after the frost."
    )
    _conversation(using, ada, "Taxes", "How do I file my taxes?")
    _conversation(using, mallory, "Secret tomatoes", "My secret tomatoes recipe")

    hits = search(user=ada, query="tomatoes", using=using)
    assert [h.conversation_id for h in hits] == [garden.id]
    assert ("tomatoes", True) in hits[0].snippet
    assert "tomatoes" in _text(hits[0]).lower()
    assert search(user=mallory, query="frost", using=using) == [], "another user's words"


def test_titles_match_too_and_deleted_conversations_do_not(using: str) -> None:
    ada, _ = _users(using)
    trip = _conversation(using, ada, "Lisbon trip", "What to pack?")
    gone = _conversation(using, ada, "Lisbon food", "Pastéis de nata")
    Conversation.objects.using(using).filter(id=gone.id).update(deleted_at=timezone.now())
    hits = search(user=ada, query="lisbon", using=using)
    assert [(h.conversation_id, h.message_id) for h in hits] == [(trip.id, None)]
    assert hits[0].snippet == [("Lisbon", True), (" trip", False)]


def test_every_word_must_match(using: str) -> None:
    ada, _ = _users(using)
    both = _conversation(using, ada, "a", "the quick brown fox")
    _conversation(using, ada, "b", "the quick red car")
    assert [h.conversation_id for h in search(user=ada, query="quick fox", using=using)] == [
        both.id
    ]
    assert search(user=ada, query="   ", using=using) == []


def test_only_the_versions_the_page_shows_are_searched(using: str) -> None:
    """A result links to text on the page: a question edited away, an answer
    regenerated, and the turns of a branch switched away from are not found."""
    ada, _ = _users(using)
    c = _conversation(using, ada, "Soup", "soup with turnips?", "Turnips and leeks.")
    q1, a1 = Message.objects.using(using).filter(conversation=c).order_by("created_at")
    follow_up = _after(using, a1, "and parsnips?", conversation=c)
    later = _after(using, follow_up, "Parsnips too.", conversation=c)
    # Regenerate a1 (its turns below stay on the old branch), then shown: q1, a1b.
    a1b = _after(using, q1, "Turnips and carrots.", conversation=c)
    Conversation.objects.using(using).filter(id=c.id).update(active_leaf=a1b)

    assert search(user=ada, query="parsnips", using=using) == [], "a branch not shown"
    assert search(user=ada, query="leeks", using=using) == [], "a version not shown"
    (hit,) = search(user=ada, query="turnips", using=using)
    assert hit.message_id in {q1.id, a1b.id}
    (hit,) = search(user=ada, query="carrots", using=using)
    assert hit.message_id == a1b.id

    # Switched back to the old answer: its branch is shown again, the new one is not.
    Conversation.objects.using(using).filter(id=c.id).update(active_leaf=later)
    assert [h.message_id for h in search(user=ada, query="leeks", using=using)] == [a1.id]
    assert [h.message_id for h in search(user=ada, query="parsnips", using=using)] != []
    assert search(user=ada, query="carrots", using=using) == []


@pytest.mark.services
def test_postgres_search_is_stemmed(postgres: str) -> None:
    ada, _ = _users(postgres)
    c = _conversation(postgres, ada, "Sport", "I was running every morning")
    (hit,) = search(user=ada, query="runs", using=postgres)
    assert hit.conversation_id == c.id
    assert ("running", True) in hit.snippet


@pytest.mark.django_db
def test_a_long_text_gives_a_short_snippet_around_the_match() -> None:
    ada = User.objects.create_user("ada")
    text = "filler " * 100 + "the needle is here " + "filler " * 100
    _conversation("default", ada, "Long", text)
    (hit,) = search(user=ada, query="needle", using="default")
    shown = _text(hit)
    assert shown.startswith("… ")
    assert shown.endswith(" …")
    assert len(shown) < 200
    assert ("needle", True) in hit.snippet


@pytest.mark.django_db
def test_the_results_page_escapes_everything() -> None:
    ada = User.objects.create_user("ada", password="pw-for-tests-1")
    _conversation("default", ada, "<b>bold</b> title", "<script>alert('x')</script> payload")
    web = Client()
    web.force_login(ada)
    page = web.get("/search", {"q": "payload"}).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; <mark>payload</mark>" in page
    assert "&lt;b&gt;bold&lt;/b&gt; title" in page
    assert "1 conversation matches “payload”." in page
    empty = web.get("/search", {"q": "nothing-like-this"}).content.decode()
    assert "Nothing matches “nothing-like-this”." in empty
    assert Client().get("/search", {"q": "payload"}).status_code == 302
