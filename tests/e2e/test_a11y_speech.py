"""What a screen reader says during real answers, counted two ways.

The virtual screen reader (a11y.py) gives the phrases a reader would speak;
the MutationObserver recorder (live_regions.py) gives what landed in which
live region, and when. The two must agree, and together they must show whole
blocks, paced, with one status per transition -- never the streaming text.

One daphne server for the module, with the demo model at a model-like pace
(so the 2.5 s announcement pacing is visible) and the fake OpenAI server for
failures and Stop (the fake server also tells whether Spool hung up on it).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from streaming.markdown import speech_for_markdown
from tests.conftest import FAKE_MODEL, spool_env
from tests.e2e.a11y import Phrase, screenshot, spoken
from tests.e2e.live_regions import Announcement, announcements
from tests.e2e.test_chat import sign_up
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import DaphneServer, run_daphne

pytestmark = pytest.mark.e2e

# The demo model's default pace: "long" streams ~300 words (~450 model
# tokens) in about ten seconds, long enough for several paced announcements.
DEMO_PACE_S = "0.03"
ANSWER_TIMEOUT_MS = 40_000
# Answer announcements are at least ANNOUNCE_INTERVAL_S (2.5 s) apart on the
# server; the page receives them a little jittered.
MIN_GAP_MS = 2_000
# How long "nothing after Stopped" is watched: several announcement intervals.
QUIET_AFTER_STOP_MS = 3_000
REGIONS = {"#sr-answer", "#sr-status", "#sr-alert"}
STOPPED = "Stopped. The partial answer is kept."
COMPLETE = "Answer complete."
FAILED = "Answer failed."
# A failure after ~2.5 s of text: time to type into the composer meanwhile.
FAILING_ANSWER = "\n\n".join(f"Sentence {i} of a doomed answer." for i in range(12))
FAIL_SCRIPT = Script.text(
    FAILING_ANSWER, chunk_size=6, delay=0.05, finish=None, name="a11y_fail"
).then_stream_error("Upstream model crashed")


@pytest.fixture(scope="module")
def paced_server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    fake_llm.when("[a11y-fail]", FAIL_SCRIPT)
    env = spool_env(fake_llm, SPOOL_DEMO_TOKEN_DELAY_S=DEMO_PACE_S, SPOOL_DEFAULT_MODEL="demo")
    with run_daphne(tmp_path_factory.mktemp("a11y-speech"), env) as server:
        yield server


def newest_answer(page: Page) -> Locator:
    return page.locator("article.msg-assistant").last


def message_id(answer: Locator) -> str:
    return str(answer.get_attribute("id")).removeprefix("m-")


def send(page: Page, text: str) -> Locator:
    composer = page.get_by_label("Message")
    composer.fill(text)
    composer.press("Enter")
    return newest_answer(page)


def answer_texts(page: Page) -> list[Announcement]:
    return announcements(page, "#sr-answer")


def statuses(page: Page) -> list[str]:
    return [a.text for a in announcements(page, "#sr-status")]


def assert_reader_agrees(page: Page) -> list[Phrase]:
    """The reader spoke exactly what the recorder saw land, in the same order."""
    phrases = spoken(page)
    recorded = announcements(page)
    assert [p.text for p in phrases] == [a.text for a in recorded], (
        f"reader: {phrases}\nrecorder: {recorded}"
    )
    assert [p.live for p in phrases] == [a.live for a in recorded]
    return phrases


def test_a_long_demo_answer_is_heard_in_whole_paced_blocks(
    a11y_page: Callable[..., Page], paced_server: DaphneServer
) -> None:
    page = a11y_page()
    sign_up(page, paced_server.url, "ears-ada")
    answer = send(page, "a long overview please")
    # The first send lands on the conversation page (303), ready to type or stop.
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(page.get_by_label("Message")).to_be_focused()
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    screenshot(page, "speech-done")

    content = paced_server.message(message_id(answer))["content"]
    blocks = [s for s in speech_for_markdown(content) if s]
    heard = answer_texts(page)
    everything = announcements(page)
    assert len(content.split()) >= 250, "the demo answer should be a long one"
    # Whole blocks, in order, each once: the announcements partition the blocks.
    assert 1 <= len(heard) <= len(blocks)
    assert " ".join(a.text for a in heard) == " ".join(" ".join(b.split()) for b in blocks)
    assert len(everything) <= len(blocks) + 2, everything
    # Nothing is spoken from inside the transcript (its tail changes per frame).
    assert {a.region for a in everything} <= REGIONS, everything
    gaps = [b.t_ms - a.t_ms for a, b in itertools.pairwise(heard)]
    assert all(gap >= MIN_GAP_MS for gap in gaps[:-1]), gaps
    # One status per transition: the completion is said once.
    said = statuses(page)
    assert said.count(COMPLETE) == 1, said
    assert said[-1] == COMPLETE, said
    assert set(said) <= {"Generating answer…", COMPLETE}, said
    phrases = assert_reader_agrees(page)
    assert [p.text for p in phrases].count(COMPLETE) == 1

    # The next answer starts from empty regions: the old status is not left
    # to be read again, and emptying them is silent.
    before = len(phrases)
    second = send(page, "show me some code")
    expect(second).to_have_attribute("aria-busy", "true")
    expect(page.locator("#sr-status")).to_have_text(re.compile(r"^(Generating answer…)?$"))
    expect(second.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    phrases = assert_reader_agrees(page)
    new = [p.text for p in phrases[before:]]
    assert new.count(COMPLETE) == 1, new
    assert new[-1] == COMPLETE, new
    assert any("Code block, Python" in text for text in new), new


def wait_for_first_block(page: Page, answer: Locator) -> None:
    expect(answer.locator(".blocks p").first).to_be_attached(timeout=10_000)
    expect(page.locator("#sr-answer p").first).to_be_attached(timeout=10_000)


@pytest.mark.parametrize("focus_on", ["composer", "stop button"])
def test_esc_stops_with_one_status_and_then_silence(
    a11y_page: Callable[..., Page],
    paced_server: DaphneServer,
    fake_llm: FakeOpenAIServer,
    focus_on: str,
) -> None:
    page = a11y_page()
    sign_up(page, paced_server.url, f"ears-stop-{focus_on.split()[0]}")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    prompt = f"[long] a story to stop from the {focus_on}"
    answer = send(page, prompt)
    wait_for_first_block(page, answer)
    stop = page.get_by_role("button", name="Stop generating")
    if focus_on == "composer":
        page.get_by_label("Message").focus()
    else:
        stop.focus()
    page.keyboard.press("Escape")

    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(answer).not_to_have_attribute("aria-busy", "true")
    fake_llm.wait_for_hangup(3, prompt=prompt)
    composer = page.get_by_label("Message")
    expect(composer).to_be_focused()
    page.wait_for_timeout(QUIET_AFTER_STOP_MS)
    screenshot(page, f"speech-stopped-{focus_on.split()[0]}")

    everything = announcements(page)
    said = [a.text for a in everything]
    assert said.count(STOPPED) == 1, said
    assert said[-1] == STOPPED, f"nothing may be said after Stopped: {said}"
    assert COMPLETE not in said
    phrases = assert_reader_agrees(page)
    assert [p.text for p in phrases].count(STOPPED) == 1
    assert page.evaluate("() => document.activeElement === document.body") is False

    # Enter sends again after a Stop (it must not re-send the Stop).
    follow_up = send(page, "and now a short one")
    expect(page.locator("article.msg-user")).to_have_count(2)
    expect(follow_up.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(follow_up).not_to_contain_text("Stopped")


def test_an_upstream_failure_is_one_alert_and_keeps_everything(
    a11y_page: Callable[..., Page], paced_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    page = a11y_page()
    sign_up(page, paced_server.url, "ears-fail")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    answer = send(page, "[a11y-fail] this one breaks")
    expect(answer.locator(".blocks p").first).to_contain_text("Sentence 0", timeout=10_000)
    # Typing while the answer streams: the draft must survive the failure.
    draft = "my next question, half typed"
    page.get_by_label("Message").press_sequentially(draft)

    expect(answer.locator("footer .status-error")).to_contain_text("Failed:", timeout=15_000)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    page.wait_for_timeout(1_000)  # time for a second alert to land, if any
    screenshot(page, "speech-failed")
    expect(page.get_by_label("Message")).to_have_value(draft)
    expect(answer.locator(".msg-body")).to_contain_text("Sentence 0 of a doomed answer.")

    alerts = announcements(page, "#sr-alert")
    assert len(alerts) == 1, alerts
    # What happened and what to do, as the footer says it.
    footer = answer.locator("footer .status-error").inner_text()
    assert alerts[0].text in footer, (alerts, footer)
    assert "Try again" in alerts[0].text, alerts
    assert statuses(page).count(FAILED) == 1
    phrases = assert_reader_agrees(page)
    assert [p.live for p in phrases].count("assertive") == 1, phrases
