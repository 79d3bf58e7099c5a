"""A shared link's attachments (chatapp/shares.py, views/shares.py): the files
its questions had when shared, served through the token only while the link
lives, and nothing else through it.

The rules as services, then through a real daphne: the owner shares an image
and a text file, someone signed out sees and downloads both, revoking ends it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User
from django.http import Http404
from django.test import Client, override_settings

from chatapp import shares
from chatapp.attachments.prepare import prepare
from chatapp.attachments.store import attachments_save
from chatapp.models import Attachment, Conversation, Message
from tests.support.attachments import image_bytes
from tests.support.client import SpoolClient, last_answer_id
from tests.support.daphne import DaphneServer
from tests.support.uploads import attachment_urls, post_files

PNG = ("shot.png", image_bytes(64, 32), "image/png")
NOTES = ("notes.txt", b"The launch is on Tuesday.\nBring snacks.\n", "text/plain")


def _question(conversation: Conversation, text: str, *files: tuple[str, bytes]) -> Message:
    q = Message.objects.create(conversation=conversation, role="user", content=text)
    attachments_save(message=q, files=[prepare(name, data) for name, data in files], stored=[])
    return q


@pytest.mark.django_db
class TestShareAttachmentRules:
    @pytest.fixture(autouse=True)
    def media(self, tmp_path: Path) -> Iterator[None]:
        with override_settings(MEDIA_ROOT=tmp_path):
            yield

    @pytest.fixture
    def conversation(self) -> Conversation:
        user = User.objects.create_user("att")
        c = Conversation.objects.create(user=user, model="demo", title="Files")
        q = _question(c, "Look", (PNG[0], PNG[1]), (NOTES[0], NOTES[1]))
        Attachment.objects.filter(message=q, kind="image").update(alt="A blue chart")
        Message.objects.create(
            conversation=c, reply_to=q, role="assistant", content="Seen", html="<p>Seen</p>",
            status="complete", model="demo",
        )  # fmt: skip
        return c

    def test_the_copy_lists_each_question_s_files_by_id(self, conversation: Conversation) -> None:
        share = shares.share_create(conversation=conversation)
        image, notes = Attachment.objects.order_by("created_at", "id")
        assert share.messages[0]["attachments"] == [
            {
                "id": str(image.id), "name": "shot.png", "alt": "A blue chart", "image": True,
                "size": image.size, "width": 64, "height": 32,
                "thumb_width": 64, "thumb_height": 32, "note": "",
            },
            {
                "id": str(notes.id), "name": "notes.txt", "alt": "", "image": False,
                "size": notes.size, "width": None, "height": None,
                "thumb_width": None, "thumb_height": None, "note": "",
            },
        ]  # fmt: skip
        assert "attachments" not in share.messages[1]
        for a in (image, notes):
            assert shares.share_attachment(token=share.token, attachment_id=a.id) == a

    def test_a_file_outside_the_copy_is_a_404(self, conversation: Conversation) -> None:
        share = shares.share_create(conversation=conversation)
        # Sent after the share, in the same conversation: not in the copy.
        later = _question(conversation, "More", ("later.txt", b"secret\n"))
        # Another conversation of the same owner, and someone else's.
        mine = Conversation.objects.create(user=conversation.user, model="demo")
        theirs = Conversation.objects.create(user=User.objects.create_user("eve"), model="demo")
        for c in (mine, theirs):
            _question(c, "Other", ("other.txt", b"other\n"))
        others = Attachment.objects.exclude(message__conversation=conversation)
        for a in [*later.attachments.all(), *others]:
            with pytest.raises(Http404):
                shares.share_attachment(token=share.token, attachment_id=a.id)
        with pytest.raises(Http404):
            shares.share_attachment(token=share.token, attachment_id="not-a-uuid")

    def test_a_copy_naming_another_conversation_s_file_serves_nothing(
        self, conversation: Conversation
    ) -> None:
        """The copy is trusted only for its own conversation's files."""
        share = shares.share_create(conversation=conversation)
        other = Conversation.objects.create(user=User.objects.create_user("bob"), model="demo")
        foreign = _question(other, "Other", ("other.txt", b"other\n")).attachments.get()
        share.messages[0]["attachments"][0]["id"] = str(foreign.id)
        share.save()
        with pytest.raises(Http404):
            shares.share_attachment(token=share.token, attachment_id=foreign.id)

    def test_a_copy_taken_before_thumbnails_shows_the_full_image(
        self, conversation: Conversation
    ) -> None:
        share = shares.share_create(conversation=conversation)
        for a in share.messages[0]["attachments"]:
            del a["thumb_width"], a["thumb_height"]
        share.save()
        image = Attachment.objects.get(kind="image")
        page = Client().get(f"/s/{share.token}").content.decode()
        assert f'<img src="/s/{share.token}/a/{image.id}" alt="A blue chart" width="64"' in page
        assert "/thumb" not in page

    def test_revoked_or_deleted_serves_nothing(self, conversation: Conversation) -> None:
        share = shares.share_create(conversation=conversation)
        a = Attachment.objects.first()
        assert a is not None
        shares.share_revoke(conversation=conversation)
        with pytest.raises(Http404):
            shares.share_attachment(token=share.token, attachment_id=a.id)
        again = shares.share_create(conversation=conversation)
        Conversation.objects.filter(id=conversation.id).update(deleted_at=again.snapshot_at)
        with pytest.raises(Http404):
            shares.share_attachment(token=again.token, attachment_id=a.id)


# -- through daphne ----------------------------------------------------------


@dataclasses.dataclass
class Shared:
    page: str  # the owner's conversation path
    link: str  # the share link's path
    owner_files: list[str]  # the owner's /a/<id> URLs: image, then text file


@pytest.fixture
def shared(client: SpoolClient) -> Shared:
    page, answer = client.start_conversation("Plan the launch")
    client.stream_events(answer)
    r = post_files(
        client,
        f"{page}messages",
        "What do these say?",
        [PNG, NOTES],
        fields={"alt-0": "A blue chart"},
    )
    assert r.status_code == 200, r.text[:300]
    client.stream_events(last_answer_id(r.text))
    owner_files = attachment_urls(r.text)
    assert len(owner_files) == 2
    r = client.post(f"{page}share")
    (link,) = re.findall(r'id="share-url" type="text" readonly value="([^"]+)"', r.text)
    return Shared(page, httpx.URL(link).path, owner_files)


@pytest.fixture
def anon(spool_server: DaphneServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=spool_server.url) as c:
        yield c


def _shared_files(link: str, html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(rf'href="({re.escape(link)}/a/[0-9a-f-]+)"', html)))


def test_a_signed_out_visitor_sees_and_downloads_the_files(
    shared: Shared, anon: httpx.Client
) -> None:
    page = anon.get(shared.link)
    assert page.status_code == 200
    image_url, notes_url = _shared_files(shared.link, page.text)
    # The same files the owner sees, under the link's address, not the owner's.
    assert [u.rsplit("/", 1)[1] for u in (image_url, notes_url)] == [
        u.rsplit("/", 1)[1] for u in shared.owner_files
    ]
    assert 'href="/a/' not in page.text
    # The thumbnail shown, the image linked (tests/test_attachments_thumbnail_flow.py).
    assert f'<img src="{image_url}/thumb" alt="A blue chart" width="64" height="32"' in page.text
    assert 'download="notes.txt"><span class="attachment-name">notes.txt</span>' in page.text

    image = anon.get(image_url)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert image.headers["content-disposition"].startswith("inline")  # shown, not downloaded
    notes = anon.get(notes_url)
    assert notes.status_code == 200
    assert notes.content == NOTES[1]
    assert notes.headers["content-type"] == "text/plain; charset=utf-8"
    assert notes.headers["content-disposition"].startswith("attachment")
    for r in (image, notes):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-robots-tag"] == "noindex, nofollow"
    # The owner's own address still answers only its owner.
    assert anon.get(shared.owner_files[0]).status_code in (302, 404)


def test_revoking_ends_the_files_too(
    shared: Shared, client: SpoolClient, anon: httpx.Client
) -> None:
    urls = _shared_files(shared.link, anon.get(shared.link).text)
    assert [anon.get(u).status_code for u in urls] == [200, 200]
    assert client.post(f"{shared.page}share/revoke").status_code == 200
    assert [anon.get(u).status_code for u in urls] == [404, 404]
    assert [client.http.get(u).status_code for u in urls] == [404, 404], "not even for the owner"
    assert [client.http.get(u).status_code for u in shared.owner_files] == [200, 200]


def test_another_conversation_s_file_through_the_token_is_a_404(
    shared: Shared, client: SpoolClient, other_client: SpoolClient, anon: httpx.Client
) -> None:
    foreign: list[str] = []
    for owner in (client, other_client):  # the same owner's other conversation, and a stranger's
        page, answer = owner.start_conversation("Elsewhere")
        owner.stream_events(answer)
        r = post_files(
            owner, f"{page}messages", "private", [("other.txt", b"private\n", "text/plain")]
        )
        assert r.status_code == 200, r.text[:300]
        owner.stream_events(last_answer_id(r.text))
        (url,) = attachment_urls(r.text)
        assert owner.http.get(url).status_code == 200
        foreign.append(url.rsplit("/", 1)[1])
    # A file sent to the shared conversation after the link was made.
    r = post_files(
        client, f"{shared.page}messages", "later", [("later.txt", b"later\n", "text/plain")]
    )
    client.stream_events(last_answer_id(r.text))
    foreign.append(attachment_urls(r.text)[0].rsplit("/", 1)[1])
    for attachment_id in foreign:
        assert anon.get(f"{shared.link}/a/{attachment_id}").status_code == 404
    assert "later.txt" not in anon.get(shared.link).text
