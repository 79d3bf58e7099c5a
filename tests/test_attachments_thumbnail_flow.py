"""Thumbnails through a real daphne: ``/a/<id>/thumb`` (chatapp/views/attachments.py)
and ``/s/<token>/a/<id>/thumb`` (views/shares.py) under the full file's rules;
the page showing them; and a stored file gone from storage: a 404 on all four
routes (logged), a note to the model instead of a failed send."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support.attachments import image_bytes
from tests.support.client import SpoolClient, count, last_answer_id
from tests.support.daphne import DaphneServer
from tests.support.uploads import post_files

PHOTO = ("chart.png", image_bytes(900, 600), "image/png")
NOTES = ("notes.txt", b"Bring snacks.\n", "text/plain")
OWNER_CACHE = "private, max-age=86400"


@dataclass
class Sent:
    page: str  # the conversation's path
    answer: str  # the answer's message id
    image: str  # the image's attachment id
    notes: str  # the text file's attachment id
    html: str  # the sent question's fragment


def _send(client: SpoolClient, *files: tuple[str, bytes, str]) -> Sent:
    page, answer = client.start_conversation("Charts")
    client.stream_until(answer, count("done", 1))
    r = post_files(client, f"{page}messages", "Look", list(files), fields={"alt-0": "A chart"})
    assert r.status_code == 200, r.text[:300]
    answer = last_answer_id(r.text)
    client.stream_until(answer, count("done", 1))
    ids = list(dict.fromkeys(re.findall(r'href="/a/([0-9a-f-]+)"', r.text)))
    return Sent(page, answer, ids[0], ids[1] if len(ids) > 1 else "", r.text)


def _key(spool: DaphneServer, uuid: str) -> str:
    return uuid if spool.database_url else uuid.replace("-", "")


def _stored(spool: DaphneServer, attachment_id: str) -> tuple[Path, Path]:
    (row,) = spool.query(
        "SELECT file, thumbnail FROM chatapp_attachment WHERE id = ?", (_key(spool, attachment_id),)
    )
    uploads = spool.db_path.parent / "uploads"
    return uploads / row["file"], uploads / row["thumbnail"]


def _webp(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "WEBP"
    return image


@pytest.fixture
def anon(spool_server: DaphneServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=spool_server.url) as c:
        yield c


def test_the_page_shows_the_thumbnail_linked_to_the_full_image(client: SpoolClient) -> None:
    sent = _send(client, PHOTO, NOTES)
    thumb = f"/a/{sent.image}/thumb"
    shown = (
        f'<a class="attachment-image" href="/a/{sent.image}"><img src="{thumb}" alt="A chart" '
        'width="440" height="293" loading="lazy"></a>'
    )
    assert shown in sent.html
    assert shown in client.http.get(sent.page).text  # the page as reloaded, too

    served = client.http.get(thumb)
    assert _webp(served).size == (440, 293)
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["cache-control"] == OWNER_CACHE
    assert served.headers["content-disposition"] == 'inline; filename="chart.webp"'
    # The link still gives the whole image.
    full = client.http.get(f"/a/{sent.image}")
    assert Image.open(io.BytesIO(full.content)).size == (900, 600)
    # A file that is not an image has no thumbnail.
    assert client.http.get(f"/a/{sent.notes}/thumb").status_code == 404


def test_only_the_owner_gets_it_as_with_the_full_image(
    client: SpoolClient, other_client: SpoolClient, anon: httpx.Client
) -> None:
    sent = _send(client, PHOTO)
    full, thumb = f"/a/{sent.image}", f"/a/{sent.image}/thumb"
    assert other_client.http.get(thumb).status_code == 404
    assert other_client.http.get(full).status_code == 404
    signed_out = anon.get(thumb)
    assert signed_out.status_code == anon.get(full).status_code == 302
    assert signed_out.headers["location"].startswith("/accounts/login/")
    assert anon.get(f"/a/{sent.image}/thumbs").status_code == 404
    assert other_client.http.post(thumb, data={}).status_code in (403, 405)


def test_an_image_stored_before_thumbnails_shows_the_full_image(
    client: SpoolClient, spool_server: DaphneServer
) -> None:
    sent = _send(client, PHOTO)
    spool_server.query(
        "UPDATE chatapp_attachment SET thumbnail = '' WHERE id = ?",
        (_key(spool_server, sent.image),),
    )
    page = client.http.get(sent.page).text
    assert f'<img src="/a/{sent.image}" alt="A chart" width="900" height="600"' in page
    assert "/thumb" not in page
    assert client.http.get(f"/a/{sent.image}/thumb").status_code == 404


def _share(client: SpoolClient, sent: Sent) -> str:
    r = client.post(f"{sent.page}share")
    (link,) = re.findall(r'id="share-url" type="text" readonly value="([^"]+)"', r.text)
    return httpx.URL(link).path


def test_a_link_holder_gets_the_thumbnail_until_the_link_is_revoked(
    client: SpoolClient, anon: httpx.Client
) -> None:
    sent = _send(client, PHOTO, NOTES)
    link = _share(client, sent)
    page = anon.get(link).text
    thumb = f"{link}/a/{sent.image}/thumb"
    assert (
        f'<a class="attachment-image" href="{link}/a/{sent.image}"><img src="{thumb}" '
        'alt="A chart" width="440" height="293" loading="lazy"></a>'
    ) in page

    served = anon.get(thumb)
    assert _webp(served).size == (440, 293)
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["cache-control"] == "no-store"
    assert served.headers["referrer-policy"] == "no-referrer"
    assert served.headers["x-robots-tag"] == "noindex, nofollow"
    assert anon.get(f"{link}/a/{sent.notes}/thumb").status_code == 404

    assert client.post(f"{sent.page}share/revoke").status_code == 200
    assert anon.get(thumb).status_code == 404
    assert client.http.get(thumb).status_code == 404, "not even for the owner"


def test_another_conversation_s_thumbnail_through_the_token_is_a_404(
    client: SpoolClient, other_client: SpoolClient, anon: httpx.Client
) -> None:
    link = _share(client, _send(client, PHOTO))
    foreign = _send(other_client, PHOTO)
    assert other_client.http.get(f"/a/{foreign.image}/thumb").status_code == 200
    assert anon.get(f"{link}/a/{foreign.image}/thumb").status_code == 404


def test_a_file_missing_from_storage_is_a_404_on_every_route(
    client: SpoolClient, spool_server: DaphneServer, anon: httpx.Client
) -> None:
    sent = _send(client, PHOTO)
    link = _share(client, sent)
    full, thumb = _stored(spool_server, sent.image)
    urls = [
        (client.http, f"/a/{sent.image}"),
        (client.http, f"/a/{sent.image}/thumb"),
        (anon, f"{link}/a/{sent.image}"),
        (anon, f"{link}/a/{sent.image}/thumb"),
    ]
    assert [http.get(url).status_code for http, url in urls] == [200, 200, 200, 200]

    full.unlink()
    thumb.unlink()

    assert [http.get(url).status_code for http, url in urls] == [404, 404, 404, 404]
    log = spool_server.log()
    assert f"attachment {sent.image}: stored file '{full.relative_to(full.parents[2])}'" in log
    assert f"attachment {sent.image}: stored file '{thumb.relative_to(thumb.parents[2])}'" in log
    assert "Internal Server Error" not in log.split(sent.image, 1)[1]
    # The page still renders; the image is just broken.
    assert client.http.get(sent.page).status_code == 200


def test_a_missing_image_becomes_a_note_to_the_model(
    client: SpoolClient, spool_server: DaphneServer
) -> None:
    sent = _send(client, PHOTO)
    full, _ = _stored(spool_server, sent.image)
    full.unlink()

    # Regenerate: the same question, its image read again for the model.
    r = client.post(f"/m/{sent.answer}/regenerate", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text[:300]
    answer = last_answer_id(r.text)
    client.stream_until(answer, count("done", 1))

    assert spool_server.wait_status(answer, "complete")["status"] == "complete"
    page = client.http.get(sent.page).text
    assert "Image chart.png is no longer available." in page  # the demo model repeats it
    assert "is missing; the model is told so" in spool_server.log()
