"""Drafts survive a reload; while an answer is written, Send is disabled with its
reason shown, and Enter posts nothing and keeps the text."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.test_chat import ask, sign_up
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e


def test_a_draft_survives_a_reload_until_it_is_sent(page: Page, spool_server: DaphneServer) -> None:
    sign_up(page, spool_server.url, "drafter")
    composer = page.get_by_label("Message")
    composer.press_sequentially("A question I have not finished")
    page.reload()
    expect(composer).to_have_value("A question I have not finished")

    composer.press("Enter")  # the first send leaves the page for the conversation's
    expect(page.locator("article.msg-assistant footer")).to_be_visible(timeout=15_000)
    conversation = page.url
    page.goto(spool_server.url + "/")
    expect(page.get_by_label("Message")).to_have_value("")

    page.goto(conversation)
    composer = page.get_by_label("Message")
    composer.press_sequentially("Half a follow-up")
    page.reload()
    expect(composer).to_have_value("Half a follow-up")
    page.goto(spool_server.url + "/")
    expect(page.get_by_label("Message")).to_have_value("", timeout=2_000)  # drafts are per page

    page.goto(conversation)
    page.get_by_label("Message").press("End")
    page.get_by_label("Message").press_sequentially(", finished.")
    page.get_by_label("Message").press("Enter")
    expect(page.locator("article.msg-user").last).to_contain_text("Half a follow-up, finished.")
    expect(page.locator("article.msg-assistant").last.locator("footer")).to_be_visible(
        timeout=15_000
    )
    page.reload()
    expect(page.get_by_label("Message")).to_have_value("")


def test_send_is_refused_visibly_while_an_answer_is_written(
    page: Page, spool_server: DaphneServer
) -> None:
    sign_up(page, spool_server.url, "impatient")
    answer = ask(page, "[long] a long story please")
    expect(answer).to_have_attribute("aria-busy", "true")
    send = page.get_by_role("button", name="Send")
    expect(send).to_be_disabled()
    expect(page.get_by_text("Wait for this answer, or stop it, to send.")).to_be_visible()
    page.screenshot(path="test-artifacts/send-disabled-while-streaming.png")

    posts: list[str] = []

    def note(request: Request) -> None:
        if request.method == "POST":
            posts.append(request.url)

    page.on("request", note)
    composer = page.get_by_label("Message")
    composer.press_sequentially("next question")
    composer.press("Enter")
    expect(page.locator("#sr-status")).to_have_text("Wait for this answer, or stop it, to send.")
    page.wait_for_timeout(300)
    assert posts == []
    expect(composer).to_have_value("next question")

    page.get_by_role("button", name="Stop generating").press("Enter")
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(send).to_be_enabled()
    expect(page.get_by_text("Wait for this answer, or stop it, to send.")).to_have_count(0)
    composer.press("Enter")
    expect(page.locator("article.msg-user").last).to_contain_text("next question")
