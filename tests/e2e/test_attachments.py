"""Attachments in the browser, by keyboard alone: attach an image and a text
file, send, see both on the sent message; another user gets 404 on the
attachment URL; an oversized file is refused with the draft kept, and the
same file posted straight to the send URL is refused with nothing stored;
0 axe-core violations with attachments on the page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FileChooser, FilePayload, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.conftest import spool_env
from tests.e2e import live_regions
from tests.e2e.a11y import axe_violations, describe, screenshot
from tests.e2e.test_keyboard import Keyboard, answer, keyboard_page, sign_up_by_keyboard
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.attachments import image_bytes
from tests.support.client import SpoolClient, last_answer_id
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.uploads import post_files, stored_files

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT_MS = 30_000
MAX_UPLOAD_MB = 1

SHOT: FilePayload = {"name": "shot.png", "mimeType": "image/png", "buffer": image_bytes(96, 64)}
NOTES: FilePayload = {
    "name": "notes.txt",
    "mimeType": "text/plain",
    "buffer": b"The launch is on Tuesday.\n",
}
HUGE: FilePayload = {
    "name": "huge.txt",
    "mimeType": "text/plain",
    "buffer": b"a" * (MAX_UPLOAD_MB * 1024 * 1024 + 1),
}


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    tmp: Path = tmp_path_factory.mktemp("attach-e2e")
    env = spool_env(fake_llm, SPOOL_MAX_UPLOAD_MB=str(MAX_UPLOAD_MB), SPOOL_DEFAULT_MODEL="demo")
    with run_daphne(tmp, env) as server:
        yield server


def _attach_by_keyboard(page: Page, keys: Keyboard, files: list[FilePayload]) -> None:
    """Tab to "Attach files", open the picker with Space, choose ``files``."""
    picker = page.get_by_label("Attach files")
    # Playwright turns the browser's file-chooser interception on when the first
    # listener subscribes, without waiting for it: subscribed only at the key
    # press, the picker could open before interception and never be reported
    # (a 30 s timeout in CI). Subscribed before the Tabs, it is on in time.
    page.on("filechooser", _ignore)
    try:
        keys.tab_to(picker)
        with page.expect_file_chooser() as chooser:
            keys.press("Space", "Space opens the file picker")
        chooser.value.set_files(files)
    finally:
        page.remove_listener("filechooser", _ignore)
    keys.check("files chosen")


def _ignore(_chooser: FileChooser) -> None:
    """A standing "filechooser" listener (see _attach_by_keyboard); the expectation acts."""


def _counts(spool: DaphneServer) -> tuple[int, int, int]:
    messages = spool.query("SELECT COUNT(*) AS n FROM chatapp_message")[0]["n"]
    attachments = spool.query("SELECT COUNT(*) AS n FROM chatapp_attachment")[0]["n"]
    return messages, attachments, len(stored_files(spool.db_path.parent))


def test_attach_send_and_see_by_keyboard(
    new_context: CreateContextCallback, spool: DaphneServer
) -> None:
    page, keys = keyboard_page(
        new_context, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    sign_up_by_keyboard(page, keys, spool.url, f"files-{uuid.uuid4().hex[:6]}")
    composer = page.get_by_label("Message")
    keys.type("hello", "first message")
    keys.press("Enter", "send", navigates=True)
    expect(answer(page).locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)

    # Attach an image and a text file: each a chip with its name, size and Remove.
    _attach_by_keyboard(page, keys, [SHOT, NOTES])
    chips = page.locator("#composer-chips")
    expect(chips.get_by_role("listitem")).to_have_count(2)
    expect(chips.get_by_role("button", name="Remove shot.png")).to_be_visible()
    expect(chips.get_by_role("button", name="Remove notes.txt")).to_be_visible()
    expect(chips).to_contain_text("26 bytes")
    expect(page.locator("#sr-status")).to_have_text("2 files attached: shot.png, notes.txt.")
    # The image gets a description of its own (the text file has no such field).
    keys.tab_to(chips.get_by_role("textbox", name="Alt text for shot.png"))
    keys.type("A steel-blue rectangle", "alt text")
    keys.press("Enter", "Enter in the alt text sends nothing")
    expect(page.locator("article.msg-user")).to_have_count(1)
    expect(chips.get_by_role("textbox")).to_have_count(1)
    keys.tab_to(composer, backwards=True)
    keys.type("What are these?", "the question")
    screenshot(page, "attachments-pending")
    assert not (found := axe_violations(page)), describe(found)

    # Send: both are on the sent message, and the demo model says what arrived.
    keys.press("Enter", "send with attachments")
    sent = page.locator("article.msg-user").last
    expect(sent.locator(".msg-text")).to_have_text("What are these?")
    expect(sent.get_by_role("img", name="A steel-blue rectangle")).to_be_visible()
    expect(sent.get_by_role("link", name=re.compile(r"^notes\.txt"))).to_be_visible()
    expect(chips.get_by_role("listitem")).to_have_count(0)
    expect(composer).to_have_value("")
    expect(composer).to_be_focused()
    reply = answer(page)
    expect(reply.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(reply).to_contain_text("I received 2 attachments")
    expect(reply).to_contain_text("96 x 64 px")
    keys.check("sent")
    # The thumbnail really loaded (the owner-only view served it to its owner),
    # linked to the full image.
    img = sent.locator("img")
    src = img.get_attribute("src")
    assert src
    assert re.fullmatch(r"/a/[0-9a-f-]+/thumb", src), src
    assert sent.locator("a.attachment-image").get_attribute("href") == src.removesuffix("/thumb")
    loaded = img.evaluate("img => img.complete && img.naturalWidth")
    assert loaded == 96  # 96 x 64 fits the thumbnail's box: never enlarged
    assert img.evaluate("img => new URL(img.currentSrc).pathname") == src
    box = img.bounding_box()
    assert box
    assert box["width"] > 0
    assert box["height"] > 0
    thumb = page.request.get(f"{spool.url}{src}")
    assert (thumb.status, thumb.headers["content-type"]) == (200, "image/webp")
    sent.scroll_into_view_if_needed()
    screenshot(page, "attachments-sent")
    assert not (found := axe_violations(page)), describe(found)

    # The same after a reload, and only for this user.
    page.reload()
    sent = page.locator("article.msg-user").last
    expect(sent.get_by_role("img", name="A steel-blue rectangle")).to_be_visible()
    assert sent.locator("img").evaluate("img => img.complete && img.naturalWidth") == 96
    assert (sent.locator("img").get_attribute("src") or "").endswith("/thumb")
    url = sent.get_by_role("link", name=re.compile(r"^notes\.txt")).get_attribute("href")
    assert url
    assert url.startswith("/a/")
    with SpoolClient(spool.url) as other:
        assert other.signup().http.get(url).status_code == 404
    own = page.request.get(f"{spool.url}{url}")
    assert own.status == 200
    assert own.headers["content-disposition"].startswith("attachment")


def test_an_oversized_file_keeps_the_draft_and_a_direct_post_stores_nothing(
    new_context: CreateContextCallback, spool: DaphneServer
) -> None:
    page, keys = keyboard_page(new_context, viewport={"width": 1280, "height": 900})
    sign_up_by_keyboard(page, keys, spool.url, f"big-{uuid.uuid4().hex[:6]}")
    composer = page.get_by_label("Message")
    keys.type("hello", "first message")
    keys.press("Enter", "send", navigates=True)
    expect(answer(page).locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    before = _counts(spool)

    _attach_by_keyboard(page, keys, [HUGE])
    keys.tab_to(composer, backwards=True)
    keys.type("Please summarise this long file", "the draft")
    keys.press("Enter", "send the oversized file")

    error = page.locator("#composer-error")
    expect(error).to_have_text(
        "“huge.txt” is larger than 1 MB, the limit per file. "
        "Attach a smaller file (or a part of it)."
    )
    expect(composer).to_have_value("Please summarise this long file")
    expect(page.get_by_role("button", name="Remove huge.txt")).to_be_visible()
    expect(page.locator("article.msg-user")).to_have_count(1)
    keys.check("refused")
    screenshot(page, "attachments-too-large")
    page.wait_for_timeout(300)
    alerts = [a.text for a in live_regions.announcements(page, "#composer-error")]
    assert alerts == [error.inner_text()], alerts
    uploading = [a.text for a in live_regions.announcements(page, "#sr-status")]
    assert uploading.count("Uploading huge.txt…") == 1, uploading
    assert _counts(spool) == before

    # The same file posted straight to the send URL, bypassing the page.
    with SpoolClient(spool.url) as direct:
        direct.signup()
        path, _ = direct.start_conversation("hi")
        before = _counts(spool)
        r = post_files(
            direct, f"{path}messages", "direct", [("huge.txt", HUGE["buffer"], "text/plain")]
        )
        assert r.status_code == 413
        assert _counts(spool) == before


DROP_AND_PASTE = """async () => {
  const composer = document.getElementById("composer-text");
  const dropped = new DataTransfer();
  dropped.items.add(new File(["dropped text\\n"], "dropped.txt", { type: "text/plain" }));
  composer.dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true,
                                                     dataTransfer: dropped }));
  composer.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true,
                                                 dataTransfer: dropped }));
  // A screenshot on the clipboard: a real PNG, drawn on a canvas.
  const canvas = document.createElement("canvas");
  canvas.width = 40; canvas.height = 30;
  canvas.getContext("2d").fillRect(0, 0, 40, 30);
  const blob = await new Promise((done) => canvas.toBlob(done, "image/png"));
  const pasted = new DataTransfer();
  pasted.items.add(new File([blob], "image.png", { type: "image/png" }));
  composer.dispatchEvent(new ClipboardEvent("paste", { bubbles: true, cancelable: true,
                                                       clipboardData: pasted }));
}"""


def test_drop_paste_and_remove(new_context: CreateContextCallback, spool: DaphneServer) -> None:
    page, keys = keyboard_page(new_context, viewport={"width": 1280, "height": 900})
    sign_up_by_keyboard(page, keys, spool.url, f"drop-{uuid.uuid4().hex[:6]}")
    keys.type("hello", "first message")
    keys.press("Enter", "send", navigates=True)
    expect(answer(page).locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)

    page.evaluate(DROP_AND_PASTE)
    chips = page.locator("#composer-chips")
    expect(chips.get_by_role("listitem")).to_have_count(2)
    remove_dropped = chips.get_by_role("button", name="Remove dropped.txt")
    remove_pasted = chips.get_by_role("button", name=re.compile(r"^Remove pasted-.*\.png$"))
    expect(remove_dropped).to_be_visible()
    expect(remove_pasted).to_be_visible()
    assert page.evaluate("() => document.getElementById('composer-files').files.length") == 2

    # Remove by keyboard: said once, focus on the next Remove button.
    keys.tab_to(remove_dropped)
    keys.press("Enter", "remove the dropped file")
    expect(chips.get_by_role("listitem")).to_have_count(1)
    expect(remove_pasted).to_be_focused()
    expect(page.locator("#sr-status")).to_have_text("Removed dropped.txt.")
    assert page.evaluate("() => document.getElementById('composer-files').files.length") == 1

    # An image alone is a message: Enter on an empty composer sends it.
    keys.tab_to(page.get_by_label("Message"), backwards=True)
    keys.press("Enter", "send the pasted image")
    sent = page.locator("article.msg-user").last
    expect(sent.get_by_role("img", name=re.compile(r"^pasted-.*\.png$"))).to_be_visible()
    reply = answer(page)
    expect(reply.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(reply).to_contain_text("40 x 30 px")
    expect(reply).not_to_contain_text("dropped.txt")


def test_attaching_works_without_script(
    new_context: CreateContextCallback, spool: DaphneServer
) -> None:
    """The file input is the browser's own, the form posts it, the page comes back."""
    context = new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    with SpoolClient(spool.url) as user:
        user.signup()
        context.add_cookies(
            [
                {"name": name, "value": value, "url": spool.url}
                for name, value in user.http.cookies.items()
            ]
        )
    page.goto(f"{spool.url}/")
    picker = page.get_by_label("Attach files")
    expect(picker).to_be_visible()  # the native control, not hidden behind the label
    picker.set_input_files([NOTES, SHOT])
    page.get_by_label("Message").fill("Without script")
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()
    sent = page.locator("article.msg-user").last
    expect(sent.locator(".msg-text")).to_have_text("Without script")
    expect(sent.get_by_role("img", name="shot.png")).to_be_visible()
    expect(sent.get_by_role("link", name=re.compile(r"^notes\.txt"))).to_be_visible()
    screenshot(page, "attachments-no-script")


def test_a_share_link_shows_and_downloads_the_files(
    new_context: CreateContextCallback, spool: DaphneServer
) -> None:
    """Signed out, through the link: the thumbnail (its description as alt
    text) and the file chip the owner sees, served under the link."""
    with SpoolClient(spool.url) as owner:
        owner.signup()
        page_path, answer_id = owner.start_conversation("Shared files")
        owner.stream_events(answer_id)
        files = [(f["name"], f["buffer"], f["mimeType"]) for f in (SHOT, NOTES)]
        r = post_files(owner, f"{page_path}messages", "Look", files, fields={"alt-0": "A blue box"})
        assert r.status_code == 200, r.text[:300]
        owner.stream_events(last_answer_id(r.text))
        r = owner.post(f"{page_path}share")
        (link,) = re.findall(r'id="share-url" type="text" readonly value="([^"]+)"', r.text)
    # axe is an injected script: this context bypasses Spool's CSP.
    context = new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    visitor = context.new_page()
    visitor.goto(link)
    question = visitor.locator("article.msg-user").last
    image = question.get_by_role("img", name="A blue box")
    expect(image).to_be_visible()
    assert visitor.evaluate("(img) => img.naturalWidth", image.element_handle()) == 96
    chip = question.get_by_role("link", name=re.compile(r"^notes\.txt"))
    expect(chip).to_be_visible()
    with visitor.expect_download() as download:
        chip.click()
    assert download.value.suggested_filename == "notes.txt"
    assert Path(download.value.path()).read_bytes() == NOTES["buffer"]
    screenshot(visitor, "share-attachments")
    assert axe_violations(visitor) == []


def test_a_regenerate_that_cannot_start_fails_in_place_said_once_by_keyboard(
    new_context: CreateContextCallback, spool: DaphneServer
) -> None:
    """The question's image can no longer be read (its stored file is a
    directory now): Regenerate by Enter cannot start its answer. The new
    version is shown failed in place, with Retry; "Answer failed." and why are
    said once each; focus is in the composer; the page passes axe
    (chatapp/services.py, committed_then_run)."""
    page, keys = keyboard_page(
        new_context, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    sign_up_by_keyboard(page, keys, spool.url, f"start-{uuid.uuid4().hex[:6]}")
    keys.type("hello", "first message")
    keys.press("Enter", "send", navigates=True)
    expect(answer(page).locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    _attach_by_keyboard(page, keys, [SHOT])
    keys.tab_to(page.get_by_label("Message"), backwards=True)
    keys.type("What is this?", "the question")
    keys.press("Enter", "send with the image")
    expect(page.locator("article.msg-assistant")).to_have_count(2)
    expect(answer(page)).to_contain_text("96 x 64 px", timeout=ANSWER_TIMEOUT_MS)
    expect(answer(page).locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    (row,) = spool.query("SELECT file FROM chatapp_attachment ORDER BY created_at DESC LIMIT 1")
    stored = spool.db_path.parent / "uploads" / row["file"]
    stored.unlink()
    stored.mkdir()

    keys.tab_to(answer(page).get_by_role("button", name="Regenerate answer"), backwards=True)
    keys.press("Enter", "Enter on Regenerate")
    failed = answer(page)
    expect(failed.get_by_text("Spool hit an error on the server")).to_be_visible()
    expect(failed.get_by_role("group", name="Version 2 of 2")).to_be_visible()
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.get_by_role("button", name="Stop generating")).to_have_count(0)
    expect(page.get_by_label("Message")).to_be_focused()
    keys.check("failed in place")
    expect(page.locator("#sr-status")).to_have_text("Answer failed.")
    expect(page.locator("#sr-alert")).to_contain_text("Spool hit an error on the server")
    statuses = [a.text for a in live_regions.announcements(page, "#sr-status")]
    alerts = [a.text for a in live_regions.announcements(page, "#sr-alert")]
    assert statuses.count("Answer failed.") == 1, statuses
    assert len([a for a in alerts if "Spool hit an error" in a]) == 1, alerts
    screenshot(page, "start-failed")
    assert not (found := axe_violations(page)), describe(found)
