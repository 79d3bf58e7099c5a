"""Attachments through a real daphne and the fake model server: what the model
receives, what is stored and served back, and every bad input refused with
nothing stored and the draft kept."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.attachments import (
    blank_pdf,
    bomb_png,
    image_bytes,
    pdf_with_text,
    rotated_jpeg_with_gps,
)
from tests.support.client import SpoolClient, count, last_answer_id
from tests.support.daphne import ROOT, DaphneServer, run_daphne
from tests.support.uploads import FileSpec, attachment_urls, post_files, stored_files

VISION = "vision-model"
PLAIN = "plain-model"
UNDO_S = 1


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=(VISION, PLAIN)) as server:
        server.set_default(Script.text("Seen."))
        yield server


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    tmp: Path = tmp_path_factory.mktemp("attach")
    env = {
        "SPOOL_LLM_BASE_URL": fake.base_url,
        "SPOOL_LLM_MODELS": f"{VISION},{PLAIN}",
        "SPOOL_LLM_VISION_MODELS": VISION,
        "SPOOL_MAX_UPLOAD_MB": "1",
        "SPOOL_DEMO_TOKEN_DELAY_S": "0.002",
        "SPOOL_UNDO_DELETE_S": str(UNDO_S),
    }
    with run_daphne(tmp, env) as server:
        yield server


@pytest.fixture
def client(spool: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool.url).signup()
    yield c
    c.close()


def _var(spool: DaphneServer) -> Path:
    return spool.db_path.parent


def _conversation(client: SpoolClient, model: str) -> str:
    path, answer_id = client.start_conversation("hello", model=model)
    client.stream_until(answer_id, count("done", 1))
    return path


def _counts(spool: DaphneServer) -> tuple[int, int, int]:
    messages = spool.query("SELECT COUNT(*) AS n FROM chatapp_message")[0]["n"]
    attachments = spool.query("SELECT COUNT(*) AS n FROM chatapp_attachment")[0]["n"]
    return messages, attachments, len(stored_files(_var(spool)))


HTMX = {"HX-Request": "true"}
PNG = ("shot.png", image_bytes(64, 32), "image/png")
NOTES = ("notes.txt", b"The launch is on Tuesday.\nBring snacks.\n", "text/plain")


def test_the_model_gets_the_image_as_an_image_url_part_and_the_file_text(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    path = _conversation(client, VISION)
    r = post_files(client, f"{path}messages", "What do these say?", [PNG, NOTES])
    assert r.status_code == 200, r.text[:300]
    client.stream_until(last_answer_id(r.text), count("done", 1))

    question = fake.chat_requests[-1].body["messages"][-1]
    assert question["role"] == "user"
    parts = question["content"]
    assert parts[0] == {"type": "text", "text": "What do these say?"}
    url = parts[1]["image_url"]["url"]
    assert parts[1]["type"] == "image_url"
    assert url.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert (image.format, image.size) == ("PNG", (64, 32))
    assert parts[2]["type"] == "text"
    assert parts[2]["text"].startswith('<file name="notes.txt">')
    assert "The launch is on Tuesday." in parts[2]["text"]

    # The sent message shows both: the image by its name, the file as a download.
    assert 'alt="shot.png"' in r.text
    assert "notes.txt" in r.text
    page = client.http.get(path).text
    assert len(attachment_urls(page)) == 2

    # A later turn still carries them: the model sees the whole conversation.
    r = post_files(client, f"{path}messages", "And now?", [])
    client.stream_until(last_answer_id(r.text), count("done", 1))
    earlier = fake.chat_requests[-1].body["messages"][-3]
    assert [p["type"] for p in earlier["content"]] == ["text", "image_url", "text"]


def test_an_image_to_a_model_without_vision_is_refused_before_the_request(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    path = _conversation(client, PLAIN)
    requests, before = len(fake.chat_requests), _counts(spool)

    r = post_files(client, f"{path}messages", "Look at this", [PNG, NOTES])

    assert r.status_code == 422
    assert "does not read images" in r.text
    assert "shot.png" in r.text
    assert "your text and files are kept" in r.text
    assert _counts(spool) == before
    assert len(fake.chat_requests) == requests

    # Text files are fine for it.
    r = post_files(client, f"{path}messages", "Read this", [NOTES])
    assert r.status_code == 200
    client.stream_until(last_answer_id(r.text), count("done", 1))
    assert "Bring snacks." in json.dumps(fake.chat_requests[-1].body)


def test_a_rotated_jpeg_with_gps_comes_back_upright_without_exif(
    client: SpoolClient, other_client_factory: Any
) -> None:
    path = _conversation(client, "demo")
    trip = ("trip.jpg", rotated_jpeg_with_gps(), "image/jpeg")
    r = post_files(client, f"{path}messages", "", [trip])
    assert r.status_code == 200, r.text[:300]
    (url,) = attachment_urls(r.text)

    served = client.http.get(url)

    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline")
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (20, 40)  # upright: it was 40 x 20 on its side
    assert not image.getexif()
    assert b"Exif" not in served.content
    red, _, _ = image.getpixel((10, 3))  # type: ignore[misc]
    assert red > 200

    other = other_client_factory()
    assert other.http.get(url).status_code == 404
    client.http.cookies.clear()
    assert client.http.get(url, follow_redirects=False).status_code == 302  # to the login page


@pytest.fixture
def other_client_factory(spool: DaphneServer) -> Iterator[Any]:
    made: list[SpoolClient] = []

    def make() -> SpoolClient:
        made.append(SpoolClient(spool.url).signup())
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_files_other_than_images_download_as_attachments(client: SpoolClient) -> None:
    path = _conversation(client, "demo")
    page = ("page.htm", b"<!doctype html><script>alert(1)</script>", "text/html")
    r = post_files(client, f"{path}messages", "two files", [page, NOTES])
    assert r.status_code == 200, r.text[:300]
    for url in attachment_urls(r.text):
        served = client.http.get(url)
        assert served.headers["content-type"] == "text/plain; charset=utf-8"
        assert served.headers["content-disposition"].startswith("attachment")
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers["content-security-policy"]


def test_the_demo_model_says_what_it_received(client: SpoolClient) -> None:
    path = _conversation(client, "demo")
    report = ("report.pdf", pdf_with_text("Revenue grew"), "application/pdf")
    r = post_files(client, f"{path}messages", "hi", [PNG, report])
    answer_id = last_answer_id(r.text)
    client.stream_until(answer_id, count("done", 1))
    text = client.http.get(path).text
    assert "I received 2 attachments" in text
    assert "shot.png" in text
    assert "image/png" in text
    assert "64 x 32 px" in text
    assert "report.pdf" in text
    assert "application/pdf" in text
    assert "1 lines of text" in text


def test_a_pdf_without_text_is_kept_and_the_message_says_so(
    client: SpoolClient, spool: DaphneServer
) -> None:
    path = _conversation(client, "demo")
    r = post_files(client, f"{path}messages", "", [("scan.pdf", blank_pdf(), "application/pdf")])
    assert r.status_code == 200
    assert "No text could be read from this PDF" in r.text
    assert len(attachment_urls(r.text)) == 1


def test_an_attachment_alone_is_a_message(client: SpoolClient) -> None:
    r = post_files(client, "/c/new", "", [NOTES], htmx=False, model="demo")
    assert r.status_code == 200, r.text[:300]
    assert "notes.txt" in r.text  # the new conversation is named after it too
    assert "<title>notes.txt" in r.text or "notes.txt</" in r.text


BIG = ("big.txt", b"a" * (1024 * 1024 + 1), "text/plain")
NAME_300 = "n" * 296 + ".txt"


@pytest.mark.parametrize(
    ("files", "status", "says"),
    [
        ([BIG], 413, "larger than 1 MB, the limit per file"),
        ([("f.txt", b"x", "text/plain")] * 6, 422, "at most 5 files"),
        ([("empty.txt", b"", "text/plain")], 422, "“empty.txt” is empty"),
        ([("evil.png", b"<html><script>alert(1)</script>", "image/png")], 422, "named like a PNG"),
        ([("cut.png", image_bytes(300, 300)[:200], "image/png")], 422, "cannot be read"),
        ([("bomb.png", bomb_png(), "image/png")], 422, "too large an image"),
        ([("../../etc/passwd.txt", b"root", "text/plain")], 422, "contains a folder path"),
        ([("a\x00b.txt", b"text", "text/plain")], 422, "contains control characters"),
        ([(NAME_300, b"text", "text/plain")], 422, "300 characters long; the limit is 255"),
        ([("tool.bin", bytes(range(256)) * 4, "application/octet-stream")], 422, "cannot read"),
    ],
    ids=["size", "count", "empty", "html", "truncated", "bomb", "dotdot", "nul", "300", "binary"],
)
def test_bad_input_is_refused_with_nothing_stored_and_the_draft_kept(
    client: SpoolClient,
    spool: DaphneServer,
    fake: FakeOpenAIServer,
    files: list[FileSpec],
    status: int,
    says: str,
) -> None:
    path = _conversation(client, VISION)
    before, requests = _counts(spool), len(fake.chat_requests)

    # Through the page (htmx): only the error comes back, the composer stays as it is.
    r = post_files(client, f"{path}messages", "My draft", files)
    assert r.status_code == status, r.text[:300]
    assert says in r.text
    assert "composer" not in r.text  # the error alone: the page keeps the draft

    # Without script: the page again, the text back in the composer.
    r = post_files(client, f"{path}messages", "My draft", files, htmx=False)
    assert r.status_code == status
    assert says in r.text
    assert "My draft</textarea>" in r.text

    assert _counts(spool) == before
    assert len(fake.chat_requests) == requests


def test_an_upload_to_someone_elses_conversation_is_not_found(
    client: SpoolClient, spool: DaphneServer, other_client_factory: Any
) -> None:
    path = _conversation(client, "demo")
    before = _counts(spool)
    other = other_client_factory()
    r = post_files(other, f"{path}messages", "mine now", [NOTES])
    assert r.status_code == 404
    assert _counts(spool) == before


def test_deleting_a_conversation_deletes_its_files(
    client: SpoolClient, spool: DaphneServer
) -> None:
    path = _conversation(client, "demo")
    r = post_files(client, f"{path}messages", "keep", [PNG, NOTES])
    client.stream_until(last_answer_id(r.text), count("done", 1))
    conversation_id = path.strip("/").split("/")[-1]
    key = conversation_id.replace("-", "")
    rows = spool.query(
        "SELECT a.file, a.thumbnail FROM chatapp_attachment a "
        "JOIN chatapp_message m ON a.message_id = m.id WHERE m.conversation_id = ?",
        (key,),
    )
    names = [name for row in rows for name in (row["file"], row["thumbnail"]) if name]
    files = [_var(spool) / "uploads" / name for name in names]
    assert len(files) == 3  # the image, its thumbnail, the text file
    assert all(f.exists() for f in files)
    # Stored under random names, never the user's.
    assert not any("shot" in f.name or "notes" in f.name for f in files)

    client.post(f"{path}delete")
    assert all(f.exists() for f in files)  # Undo can still bring it back

    time.sleep(UNDO_S + 0.2)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.settings",
        "SPOOL_VAR_DIR": str(_var(spool)),
        "SPOOL_SQLITE_PATH": str(spool.db_path),
        "SPOOL_UNDO_DELETE_S": str(UNDO_S),
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "purge_deleted"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert "Purged" in done.stdout
    assert not any(f.exists() for f in files)
    assert not spool.query("SELECT id FROM chatapp_message WHERE conversation_id = ?", (key,))


def test_inlined_text_counts_against_the_context(client: SpoolClient, spool: DaphneServer) -> None:
    """The demo model reads 16,384 - 4,096 tokens here (about 36 KB of text)."""
    path = _conversation(client, "demo")
    before = _counts(spool)
    too_long = ("log.txt", b"lorem ipsum " * 10_000, "text/plain")
    r = post_files(client, f"{path}messages", "Summarise", [too_long])
    assert r.status_code == 422
    assert "too long for this model" in r.text
    assert _counts(spool) == before

    # Two files that fit one at a time: the second turn leaves the first out, and says so.
    first = ("a.txt", b"alpha " * 4_000, "text/plain")  # 24 KB: ~8,000 tokens
    r = post_files(client, f"{path}messages", "First", [first])
    assert r.status_code == 200
    client.stream_until(last_answer_id(r.text), count("done", 1))
    second = ("b.txt", b"bravo " * 4_000, "text/plain")
    r = post_files(client, f"{path}messages", "Second", [second])
    assert r.status_code == 200
    answer_id = last_answer_id(r.text)
    client.stream_until(answer_id, count("done", 1))
    assert spool.message(answer_id)["prompt_dropped"] == 4
    page = client.http.get(path).text
    assert "Earlier messages were left out to fit the model" in page
    assert "context (4 messages)." in page


def test_an_image_s_description_is_its_alt_text(client: SpoolClient) -> None:
    path = _conversation(client, "demo")
    r = post_files(client, f"{path}messages", "", [NOTES, PNG], fields={"alt-1": " A  chart <b>"})
    assert r.status_code == 200, r.text[:300]
    assert 'alt="A chart &lt;b&gt;"' in r.text  # spaces folded, escaped
    long_alt = {"alt-0": "x" * 301}
    r = post_files(client, f"{path}messages", "", [PNG], fields=long_alt)
    assert r.status_code == 422
    assert "the limit is 300" in r.text


def test_a_refused_first_message_keeps_its_text_and_makes_no_conversation(
    client: SpoolClient, spool: DaphneServer
) -> None:
    before = _counts(spool)
    fake_png = ("evil.png", b"<html><script>alert(1)</script>", "image/png")
    r = post_files(client, "/c/new", "My first draft", [fake_png], htmx=False, model="demo")
    assert r.status_code == 422
    assert "named like a PNG image" in r.text
    assert "My first draft</textarea>" in r.text
    assert _counts(spool) == before


def test_an_edit_whose_files_no_longer_fit_is_refused_with_nothing_written(
    client: SpoolClient, spool: DaphneServer
) -> None:
    """Edit & resend carries the question's files over: they count, checked
    before the new branch is written, as a send's are (tests/test_attachments_services.py
    has the image case)."""
    path = _conversation(client, "demo")
    long_file = ("long.txt", b"word " * 6_000, "text/plain")  # 30 KB: ~10,000 tokens
    r = post_files(client, f"{path}messages", "Sum up", [long_file])
    assert r.status_code == 200
    answer_id = last_answer_id(r.text)
    client.stream_until(answer_id, count("done", 1))
    question_id = str(uuid.UUID(str(spool.message(answer_id)["reply_to_id"])))
    # Instructions now take the room the file needs (~3,000 of 12,288 tokens).
    r = client.post(f"{path}instructions", {"system_prompt": "Be thorough. " * 700})
    assert r.status_code in (200, 303), r.text[:300]
    before = _counts(spool)

    r = client.post(f"/m/{question_id}/edit", {"text": "Sum up in one line"}, headers=HTMX)
    assert r.status_code == 422, r.text[:300]
    assert "too long for this model" in r.text
    assert r.headers["HX-Retarget"] == f"#m-{question_id}-edit-error"
    assert _counts(spool) == before
    assert not spool.query("SELECT id FROM chatapp_message WHERE status = 'pending'")


def test_regenerate_retry_and_continue_of_an_image_are_refused_once_the_model_reads_none(
    tmp_path: Path, fake: FakeOpenAIServer
) -> None:
    """The model read images when the questions were asked; after a restart
    its configuration says it reads none. Regenerate (a complete answer),
    Retry (a failed one) and Continue (a stopped one) would send the image as
    the "left out" note: each is refused, as Edit & resend is, with what to do,
    before anything is written and before the model is asked."""
    key = uuid.uuid4().hex[:8]
    fake.when(f"[{key}-fail]", Script.http_error(500, "Upstream broke"))
    paragraphs = "\n\n".join(f"Paragraph {i} about the picture." for i in range(300))
    fake.when(f"[{key}-slow]", Script.text(paragraphs, chunk_size=8, delay=0.01))
    env = {
        "SPOOL_LLM_BASE_URL": fake.base_url,
        "SPOOL_LLM_MODELS": VISION,
        "SPOOL_LLM_VISION_MODELS": VISION,
    }
    answers: dict[str, str] = {}
    with run_daphne(tmp_path, env) as spool:
        client = SpoolClient(spool.url).signup()
        for name, prompt, end in (
            ("regenerate", "What is this?", "complete"),
            ("retry", f"[{key}-fail] What is this?", "failed"),
            ("continue", f"[{key}-slow] Describe it", "stopped"),
        ):
            r = post_files(client, "/c/new", prompt, [PNG], htmx=False, model=VISION)
            assert r.status_code == 200, r.text[:300]
            answers[name] = answer_id = last_answer_id(r.text)
            if end == "stopped":
                seen = client.stream_until(answer_id, count("block", 2))[-1].id or ""
                client.post(f"/m/{answer_id}/stop", {"seen": seen}, headers=HTMX)
            assert spool.wait_status(answer_id, end)["status"] == end

    env["SPOOL_LLM_VISION_MODELS"] = ""  # the same model, no longer reading images
    with run_daphne(tmp_path, env) as spool:
        client.http.base_url = spool.url
        before, requests = _counts(spool), len(fake.chat_requests)
        for action, answer_id in answers.items():
            for htmx in (True, False):
                r = client.post(f"/m/{answer_id}/{action}", headers=HTMX if htmx else {})
                assert r.status_code == 422, (action, htmx, r.text[:300])
                said = r.text
                assert "does not read images" in said, (action, said[:300])
                assert "“shot.png”" in said
                assert "start a new conversation with a model that reads images" in said
                if htmx:
                    assert r.headers["HX-Retarget"] == "#composer-error"
            assert spool.message(answer_id)["status"] in ("complete", "failed", "stopped")
        assert _counts(spool) == before
        assert len(fake.chat_requests) == requests
        live = "SELECT id FROM chatapp_message WHERE status IN ('pending', 'streaming')"
        assert not spool.query(live)
    client.close()
