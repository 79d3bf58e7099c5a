"""Pages and form errors through Django's test client (no run is started here)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from chatapp.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return User.objects.create_user("ada", password="pw-for-tests-1")


@pytest.fixture
def web(user: User) -> Client:
    c = Client(enforce_csrf_checks=False)
    c.force_login(user)
    return c


@pytest.fixture
def conversation(user: User) -> Conversation:
    conv = Conversation.objects.create(user=user, model="demo", title="Hello")
    q = Message.objects.create(conversation=conv, role="user", content="Hi <b>there</b>")
    Message.objects.create(
        conversation=conv, reply_to=q, role="assistant", content="Hello", html="<p>Hello</p>",
        status="stopped", model="demo",
    )  # fmt: skip
    return conv


def test_live_regions_exist_empty_in_the_first_html(web: Client) -> None:
    html = web.get("/").content.decode()
    for region in ("sr-answer", "sr-status", "sr-alert"):
        m = re.search(rf'<div id="{region}"[^>]*>(.*?)</div>', html, re.S)
        assert m, region
        assert m.group(1) == ""


def test_transcript_is_a_log_that_does_not_speak(web: Client, conversation: Conversation) -> None:
    html = web.get(f"/c/{conversation.id}/").content.decode()
    assert 'role="log" aria-live="off"' in html
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in html  # user text is escaped
    assert "Stopped. The partial answer is kept." in html
    assert "Retry" in html


def test_csp_forbids_inline_script(web: Client) -> None:
    csp = web.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp
    assert "unsafe-inline" not in csp


def test_htmx_requests_carry_the_csrf_token(user: User) -> None:
    """Forms swapped in from the stream (Retry in the done footer) are rendered
    outside any request, with no token of their own: the page's header carries it."""
    web = Client(enforce_csrf_checks=True)
    web.force_login(user)
    html = web.get("/").content.decode()
    m = re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"(\w+)\"\}'>", html)
    assert m, "no CSRF header for htmx on <body>"
    empty = {"text": "", "model": "demo"}
    assert web.post("/c/new", empty).status_code == 403
    # Past the CSRF check with the header alone: the empty message itself is refused.
    assert web.post("/c/new", empty, headers={"X-CSRFToken": m.group(1)}).status_code == 422


def test_login_required(conversation: Conversation) -> None:
    r = Client().get(f"/c/{conversation.id}/")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/accounts/login/")


def test_empty_message_keeps_composer_and_explains(web: Client) -> None:
    r = web.post("/c/new", {"text": "   ", "model": "demo"})
    assert r.status_code == 422
    assert "Write a message first." in r.content.decode()
    assert 'aria-invalid="true"' in r.content.decode()


def test_too_long_message_keeps_the_text(web: Client, settings) -> None:
    settings.SPOOL_MAX_MESSAGE_CHARS = 10
    r = web.post("/c/new", {"text": "x" * 11 + " my words", "model": "demo"})
    body = r.content.decode()
    assert r.status_code == 422
    assert "limit is 10" in body
    assert "xxxxxxxxxxx my words</textarea>" in body


def test_unknown_model_is_refused(web: Client) -> None:
    r = web.post("/c/new", {"text": "hi", "model": "gpt-99"})
    assert r.status_code == 422
    assert "not available" in r.content.decode()
    assert not Conversation.objects.exists()


def test_htmx_send_error_only_swaps_the_error(web: Client, conversation: Conversation) -> None:
    r = web.post(f"/c/{conversation.id}/messages", {"text": ""}, headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert r.headers["HX-Retarget"] == "#composer-error"
    assert r.headers["HX-Reswap"] == "innerHTML"
    assert r.content.decode().strip() == "Write a message first."


def test_send_refused_while_an_answer_is_live(web: Client, conversation: Conversation) -> None:
    Message.objects.create(conversation=conversation, role="assistant", status="pending")
    r = web.post(
        f"/c/{conversation.id}/messages", {"text": "again"}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 422
    assert "Wait for the current answer" in r.content.decode()


def test_signup_can_be_closed(settings) -> None:
    settings.SPOOL_OPEN_SIGNUP = False
    assert Client().get("/accounts/signup/").status_code == 404


def test_signup_form_errors_are_shown(settings) -> None:
    r = Client().post("/accounts/signup/", {"username": "x", "password1": "a", "password2": "b"})
    assert r.status_code == 422
    assert "field-error" in r.content.decode()


def test_answer_left_streaming_by_a_crash_is_shown_interrupted(
    web: Client, conversation: Conversation
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    orphan = Message.objects.create(
        conversation=conversation, role="assistant", status="streaming", model="demo",
        content="Half **written**",
    )  # fmt: skip
    Message.objects.filter(id=orphan.id).update(checkpoint_at=timezone.now() - timedelta(minutes=5))
    html = web.get(f"/c/{conversation.id}/").content.decode()
    orphan.refresh_from_db()
    assert orphan.status == "interrupted"
    assert "<strong>written</strong>" in orphan.html
    assert "Interrupted:" in html
    assert "<strong>written</strong>" in html
    assert "sse-connect" not in html


def test_sending_too_fast_is_refused_with_the_text_kept(
    web: Client, conversation: Conversation, settings
) -> None:
    settings.SPOOL_MAX_SENDS_PER_MINUTE = 1  # the fixture's answer already counts
    r = web.post("/c/new", {"text": "one more", "model": "demo"})
    assert r.status_code == 422
    assert "faster than Spool allows" in r.content.decode()
    assert "one more</textarea>" in r.content.decode()


def test_conversation_list_page_lists_only_the_owners(
    web: Client, conversation: Conversation
) -> None:
    other = User.objects.create_user("bob", password="pw-for-tests-2")
    Conversation.objects.create(user=other, model="demo", title="Bob's secret")
    r = web.get("/c/")
    body = r.content.decode()
    assert r.status_code == 200
    assert "<h1>Conversations</h1>" in body
    assert re.search(r'<a class="[^"]*btn-new" href="/">New conversation</a>', body)
    # The title in a span of its own: the stream's title event swaps it.
    entry = f'<a href="/c/{conversation.id}/"><span id="conversation-list-t-{conversation.id}">'
    assert f"{entry}Hello</span></a>" in body
    assert "secret" not in body


def test_conversation_list_page_needs_login() -> None:
    r = Client().get("/c/")
    assert r.status_code == 302
    assert r.headers["Location"] == "/accounts/login/?next=/c/"


def test_header_links_to_the_list_and_counts_answers_being_written(
    web: Client, conversation: Conversation
) -> None:
    link = re.compile(r'<a id="conversations-link"[^>]*href="/c/"[^>]*>(.*?)</a>', re.S)
    label = re.compile(r'<span id="live-count-label" hidden>([^<]*)</span>')

    def shown(match: re.Match[str]) -> str:
        return re.sub(r"<[^>]+>", "", match.group(1)).strip()

    page = web.get("/").content.decode()
    m, heard = link.search(page), label.search(page)
    assert m
    assert heard
    assert (shown(m), heard.group(1)) == ("Conversations", "Conversations")

    question = conversation.messages.get(role="user")
    for _ in range(2):
        Message.objects.create(
            conversation=conversation, reply_to=question, role="assistant", status="streaming"
        )
    html = web.get(f"/c/{conversation.id}/").content.decode()
    m, heard = link.search(html), label.search(html)
    assert m
    assert heard
    assert shown(m) == "Conversations (2 live)"
    # Its name: the label's words (the phone's button too).
    assert 'aria-labelledby="live-count-label"' in m.group(0)
    assert heard.group(1) == "Conversations, 2 answers being written"
    assert 'aria-controls="conversations-dialog"' in html
    assert '<dialog id="conversations-dialog"' in html


def test_instructions_are_saved_shown_and_reset(web: Client, conversation: Conversation) -> None:
    url = f"/c/{conversation.id}/instructions"
    page = web.get(f"/c/{conversation.id}/").content.decode()
    assert "Instructions for the model" in page
    assert "(default)" in page

    r = web.post(url, {"system_prompt": "  Answer like a pirate.  ", "action": "save"})
    assert r.status_code == 303
    assert r["Location"] == f"/c/{conversation.id}/?instructions=saved#instructions"
    conversation.refresh_from_db()
    assert conversation.system_prompt == "Answer like a pirate."
    page = web.get(r["Location"]).content.decode()
    assert "Answer like a pirate.</textarea>" in page
    assert '<details class="instructions" id="instructions" open>' in page
    assert "<strong>Saved.</strong>" in page
    page = web.get(f"/c/{conversation.id}/").content.decode()
    assert '<details class="instructions" id="instructions">' in page
    assert "Saved." not in page
    assert "(this conversation's own)" in page

    web.post(url, {"system_prompt": "", "action": "save"})
    conversation.refresh_from_db()
    assert conversation.system_prompt == ""
    assert "(none)" in web.get(f"/c/{conversation.id}/").content.decode()

    web.post(url, {"system_prompt": "ignored", "action": "default"})
    conversation.refresh_from_db()
    assert conversation.system_prompt is None


def test_instructions_too_long_keep_the_text(
    web: Client, conversation: Conversation, settings
) -> None:
    settings.SPOOL_MAX_MESSAGE_CHARS = 20
    r = web.post(
        f"/c/{conversation.id}/instructions", {"system_prompt": "p" * 30, "action": "save"}
    )
    assert r.status_code == 422
    page = r.content.decode()
    assert "30 characters long; the limit is 20" in page
    assert "p" * 30 + "</textarea>" in page
    assert '<details class="instructions" id="instructions" open>' in page
    conversation.refresh_from_db()
    assert conversation.system_prompt is None


def test_instructions_belong_to_the_owner(conversation: Conversation) -> None:
    other = Client()
    other.force_login(User.objects.create_user("mallory"))
    r = other.post(f"/c/{conversation.id}/instructions", {"system_prompt": "evil"})
    assert r.status_code == 404
    r = Client().post(f"/c/{conversation.id}/instructions", {"system_prompt": "evil"})
    assert r.status_code == 302  # to sign in
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(conversation.user)
    refused = strict.post(f"/c/{conversation.id}/instructions", {"system_prompt": "x"})
    assert refused.status_code == 403
    conversation.refresh_from_db()
    assert conversation.system_prompt is None


def test_a_message_too_long_for_the_model_is_refused_with_the_text_kept(
    web: Client, settings
) -> None:
    settings.SPOOL_DEFAULT_CONTEXT_WINDOW = 1000
    settings.SPOOL_MAX_OUTPUT_TOKENS = 500
    text = "word " * 400  # ~670 tokens by the estimate, the model reads 500
    r = web.post("/c/new", {"text": text, "model": "demo"})
    assert r.status_code == 422
    page = r.content.decode()
    assert "too long for this model" in page
    assert "and the model reads 500" in page
    assert text.strip() in page
    assert not Conversation.objects.exists()


def test_an_answer_whose_prompt_dropped_messages_says_so(
    web: Client, conversation: Conversation
) -> None:
    answer = conversation.messages.get(role="assistant")
    answer.prompt_dropped = 6
    answer.save()
    page = web.get(f"/c/{conversation.id}/").content.decode()
    assert "Earlier messages were left out to fit the model's context (6 messages)." in page


def test_rename_pin_and_the_grouped_sidebar(web: Client, conversation: Conversation) -> None:
    r = web.post(f"/c/{conversation.id}/rename", {"title": "  Garden  plans "})
    assert r.status_code == 303
    page = web.get(f"/c/{conversation.id}/").content.decode()
    heading = '<h1 class="chat-title"><span id="conversation-title">Garden plans</span></h1>'
    assert heading in page
    assert '<h2 class="conv-group" id="conversation-list-g1">Today</h2>' in page

    assert web.post(f"/c/{conversation.id}/pin", {"pinned": "1"}).status_code == 303
    page = web.get(f"/c/{conversation.id}/").content.decode()
    assert '<h2 class="conv-group" id="conversation-list-g1">Pinned</h2>' in page
    assert 'aria-label="Pinned"' in page
    assert ">Unpin</button>" in page
    web.post(f"/c/{conversation.id}/pin", {"pinned": "0"})
    assert ">Pin to the top</button>" in web.get(f"/c/{conversation.id}/").content.decode()


def test_an_empty_name_is_refused_with_the_menu_open(
    web: Client, conversation: Conversation
) -> None:
    r = web.post(f"/c/{conversation.id}/rename", {"title": "   "})
    assert r.status_code == 422
    page = r.content.decode()
    assert '<details class="conv-menu" open>' in page
    assert "Give the conversation a name." in page
    conversation.refresh_from_db()
    assert conversation.title == "Hello"


def test_delete_asks_then_deletes_and_offers_undo(web: Client, conversation: Conversation) -> None:
    url = f"/c/{conversation.id}/delete"
    confirm = web.get(url).content.decode()
    assert "Delete “Hello”?" in confirm
    assert "You can undo for 20 seconds" in confirm
    assert Conversation.objects.get(id=conversation.id).deleted_at is None, "GET deletes nothing"

    r = web.post(url)
    assert r.status_code == 303
    assert r["Location"] == f"/?deleted={conversation.id}"
    assert web.get(f"/c/{conversation.id}/").status_code == 404
    answer = conversation.messages.get(role="assistant")
    assert web.get(f"/m/{answer.id}/stream").status_code == 404
    home = web.get(r["Location"]).content.decode()
    assert "Deleted “Hello”." in home
    assert 'autofocus aria-describedby="undo-what">Undo</button>' in home
    assert "No conversations yet." in home

    r = web.post(f"/c/{conversation.id}/restore")
    assert r["Location"] == f"/c/{conversation.id}/"
    assert web.get(f"/c/{conversation.id}/").status_code == 200


def test_undo_too_late_says_so(web: Client, conversation: Conversation, settings) -> None:
    settings.SPOOL_UNDO_DELETE_S = 0
    web.post(f"/c/{conversation.id}/delete")
    r = web.post(f"/c/{conversation.id}/restore")
    assert r["Location"] == "/?undo=expired"
    assert "Too late to undo" in web.get(r["Location"]).content.decode()
    assert web.get(f"/c/{conversation.id}/").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "rename"),
        ("post", "pin"),
        ("get", "delete"),
        ("post", "delete"),
        ("post", "restore"),
    ],
)
def test_conversation_actions_belong_to_the_owner(
    conversation: Conversation, method: str, path: str
) -> None:
    other = Client()
    other.force_login(User.objects.create_user("mallory"))
    if path == "restore":
        conversation.deleted_at = timezone.now()
        conversation.save()
    r = getattr(other, method)(f"/c/{conversation.id}/{path}", {"title": "x", "pinned": "1"})
    assert r.status_code in (404, 303)
    if r.status_code == 303:  # restore answers "too late" to anyone it cannot help
        assert r["Location"] == "/?undo=expired"
    conversation.refresh_from_db()
    assert conversation.title == "Hello"
    assert conversation.pinned_at is None
    assert (conversation.deleted_at is None) == (path != "restore")
    assert Client().post(f"/c/{conversation.id}/{path}").status_code == 302  # sign in first


def test_show_more_past_the_first_page(web: Client, user: User, settings) -> None:
    Conversation.objects.bulk_create(
        Conversation(user=user, model="demo", title=f"c{i}") for i in range(101)
    )
    listed = web.get("/c/").content.decode()
    assert listed.count('<li><a href="/c/') == 100
    assert 'href="/c/?page=2">Show more conversations</a>' in listed
    home = web.get("/").content.decode()
    assert home.count('<li><a href="/c/') == 200, "the sidebar and the phone's list, 100 each"
    assert 'href="/c/?page=2">Show more conversations</a>' in home
    second = web.get("/c/?page=2").content.decode()
    assert second.count('<li><a href="/c/') == 1
    assert "Show more conversations" not in second
    assert web.get("/c/?page=abc").status_code == 200
