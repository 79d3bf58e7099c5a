"""Read-only links (chatapp/shares.py): a snapshot for anyone with the link,
nothing for anyone else, gone at once when revoked.

The rules as services, then through a real daphne: the owner, a stranger,
someone signed out, and what a POST through the link does (nothing)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from django.contrib.auth.models import User
from django.http import Http404

from chatapp import conversations, services, shares, versions
from chatapp.models import Conversation, Message, Share
from tests.support.client import SpoolClient
from tests.support.daphne import DaphneServer


@pytest.mark.django_db
class TestShareRules:
    @pytest.fixture
    def conversation(self) -> Conversation:
        user = User.objects.create_user("sha")
        c = Conversation.objects.create(user=user, model="demo", title="Lisbon")
        q = Message.objects.create(conversation=c, role="user", content="Plan <b>3</b> days")
        Message.objects.create(
            conversation=c, reply_to=q, role="assistant", content="Day **one**",
            html="<p>Day <strong>one</strong></p>", status="complete", model="demo",
        )  # fmt: skip
        return c

    def test_a_link_is_an_unguessable_token_to_a_snapshot(self, conversation: Conversation) -> None:
        share = shares.share_create(conversation=conversation)
        assert len(share.token) >= 43  # 32 random bytes, URL-safe base64
        assert share.title == "Lisbon"
        assert share.messages == [
            {"role": "user", "text": "Plan <b>3</b> days"},
            {
                "role": "assistant",
                "html": "<p>Day <strong>one</strong></p>",
                "status": "complete",
                "model": "demo",
            },
        ]
        assert shares.share_for_token(token=share.token) == share

    def test_later_messages_and_edits_do_not_reach_the_link(
        self, conversation: Conversation
    ) -> None:
        share = shares.share_create(conversation=conversation)
        Message.objects.create(conversation=conversation, role="user", content="secret plans")
        conversations.conversation_rename(conversation=conversation, title="Private")
        Message.objects.filter(role="assistant").update(html="<p>edited</p>")
        seen = shares.share_for_token(token=share.token)
        assert seen.title == "Lisbon"
        assert "secret plans" not in str(seen.messages)
        assert "edited" not in str(seen.messages)

    def test_sharing_again_updates_the_same_link(self, conversation: Conversation) -> None:
        first = shares.share_create(conversation=conversation)
        Message.objects.create(conversation=conversation, role="user", content="one more")
        again = shares.share_create(conversation=conversation)
        assert again.token == first.token
        assert again.messages[-1] == {"role": "user", "text": "one more"}
        assert Share.objects.count() == 1

    def test_a_live_answer_is_shared_as_written_so_far(self, conversation: Conversation) -> None:
        first = conversation.messages.get(role="assistant")
        q2 = Message.objects.create(
            conversation=conversation, role="user", content="More", parent=first
        )
        live = Message.objects.create(
            conversation=conversation, role="assistant", content="Half *way*", status="streaming",
            reply_to=q2,
        )  # fmt: skip
        q3 = Message.objects.create(
            conversation=conversation, role="user", content="And?", parent=live
        )
        Message.objects.create(
            conversation=conversation, role="assistant", status="pending", reply_to=q3
        )
        share = shares.share_create(conversation=conversation)
        assert share.messages[3]["status"] == "streaming"
        assert share.messages[3]["html"].strip() == "<p>Half <em>way</em></p>"
        # The empty pending answer is left out.
        assert share.messages[4:] == [{"role": "user", "text": "And?"}]

    def test_revoked_or_deleted_is_a_404_at_once(self, conversation: Conversation) -> None:
        share = shares.share_create(conversation=conversation)
        assert shares.share_revoke(conversation=conversation)
        with pytest.raises(Http404):
            shares.share_for_token(token=share.token)
        assert not shares.share_revoke(conversation=conversation)
        share = shares.share_create(conversation=conversation)
        conversations.conversation_delete(conversation=conversation)
        with pytest.raises(Http404):
            shares.share_for_token(token=share.token)

    def test_the_snapshot_is_the_active_path(self) -> None:
        """Edited questions and their answers on another branch stay out."""
        user = User.objects.create_user("ver")
        sent = services.conversation_start(user=user, text="Plan a trip", model="demo")
        _done(sent.assistant_message, "Lisbon.")
        edited = versions.message_edit(message=sent.user_message, text="Plan a cheap trip")  # type: ignore[arg-type]
        _done(edited.assistant_message, "Porto.")
        shown = shares.share_create(conversation=edited.conversation).messages
        assert [m.get("text") or m["html"].strip() for m in shown] == [
            "Plan a cheap trip",
            "Porto.",
        ]
        versions.version_switch(message=sent.user_message)  # type: ignore[arg-type]
        shown = shares.share_create(conversation=edited.conversation).messages
        assert [m.get("text") or m["html"].strip() for m in shown] == ["Plan a trip", "Lisbon."]

    def test_an_unknown_token_is_a_404(self) -> None:
        with pytest.raises(Http404):
            shares.share_for_token(token="not-a-token")


def _done(answer: Message, text: str) -> None:
    Message.objects.filter(id=answer.id).update(status="complete", content=text, html=text)


# -- through daphne ----------------------------------------------------------


@pytest.fixture
def shared(client: SpoolClient) -> tuple[str, str]:
    """(conversation path, share link path) of a finished demo conversation."""
    page, answer = client.start_conversation("Shared <script>alert(1)</script> words")
    client.stream_events(answer)
    r = client.post(f"{page}share")
    assert r.status_code == 200
    assert r.url.query == b"share=created"
    (link,) = re.findall(r'id="share-url" type="text" readonly value="([^"]+)"', r.text)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43}", link)
    return page, httpx.URL(link).path


@pytest.fixture
def anon(spool_server: DaphneServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=spool_server.url) as c:
        yield c


def test_anyone_with_the_link_reads_it_signed_out(
    shared: tuple[str, str], anon: httpx.Client
) -> None:
    _, link = shared
    r = anon.get(link)
    assert r.status_code == 200
    assert "Shared &lt;script&gt;alert(1)&lt;/script&gt; words" in r.text  # escaped
    assert "<script>alert(1)" not in r.text
    assert "Hello from the demo model" in r.text
    for control in ("<form", "<textarea", 'name="text"', "csrfmiddlewaretoken", "sse-connect"):
        assert control not in r.text, control
    assert "csrftoken" not in r.cookies, "nothing posts here: no cookie either"
    assert r.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in r.text
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]


def test_a_stranger_reads_the_link_but_not_the_conversation(
    shared: tuple[str, str], other_client: SpoolClient
) -> None:
    page, link = shared
    assert other_client.http.get(link).status_code == 200
    assert other_client.http.get(page).status_code == 404
    assert other_client.post(f"{page}share").status_code == 404
    assert other_client.post(f"{page}share/revoke").status_code == 404
    assert other_client.http.get(link).status_code == 200, "their 404s revoked nothing"


def _main(html: str) -> str:
    """The page's content (the rest holds a fresh CSP nonce per response)."""
    return html[html.index("<main") : html.index("</main>")]


def _rows(server: DaphneServer, page: str) -> list[dict[str, object]]:
    key = page.strip("/").split("/")[-1].replace("-", "")
    messages = "SELECT id, content, status FROM chatapp_message WHERE conversation_id = ?"
    shared = "SELECT token, title, messages FROM chatapp_share WHERE conversation_id = ?"
    return server.query(messages, (key,)) + server.query(shared, (key,))


def test_a_post_through_the_link_changes_nothing(
    shared: tuple[str, str], client: SpoolClient, anon: httpx.Client, spool_server: DaphneServer
) -> None:
    page, link = shared
    before, rows = _main(anon.get(link).text), _rows(spool_server, page)
    # With a valid CSRF token (the owner's session): the page takes no POST.
    r = client.http.post(link, data={"csrfmiddlewaretoken": client.csrf(), "text": "hi"})
    assert r.status_code == 405
    assert anon.post(link, data={"text": "hi"}).status_code == 403  # no CSRF token
    assert anon.post(f"{link}/messages", data={"text": "hi"}).status_code in (403, 404)
    assert _main(anon.get(link).text) == before
    assert _rows(spool_server, page) == rows


def test_revoking_is_immediate(
    shared: tuple[str, str], client: SpoolClient, anon: httpx.Client
) -> None:
    page, link = shared
    assert anon.get(link).status_code == 200
    r = client.post(f"{page}share/revoke")
    assert r.status_code == 200
    assert "Sharing stopped: the link no longer works." in r.text
    assert anon.get(link).status_code == 404
    assert client.http.get(link).status_code == 404, "not even for its owner"
