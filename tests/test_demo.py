"""The demo model: its ``[bench:N]`` answer (the serving benchmark's) and the
ordinary answers it still gives."""

from __future__ import annotations

import asyncio

import pytest

from streaming.providers.base import (
    ChatMessage,
    Finish,
    ProviderEvent,
    ReasoningDelta,
    ReasoningEffort,
    TextDelta,
    Usage,
)
from streaming.providers.demo import BENCH_PARAGRAPH_WORDS, DemoProvider, arithmetic_in, bench_words


async def _timed(
    provider: DemoProvider, prompt: str, *, max_tokens: int | None = None
) -> list[tuple[float, ProviderEvent]]:
    """Every event with the loop time it arrived, relative to the call."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    stream = provider.stream(
        messages=[ChatMessage("user", prompt)], model="demo", max_tokens=max_tokens
    )
    return [(loop.time() - start, event) async for event in stream]


def test_bench_words_are_numbered_paragraphs_of_forty() -> None:
    text = "".join(bench_words(100))
    paragraphs = text.split("\n\n")
    assert [len(p.split(" ")) for p in paragraphs] == [40, 40, 20]
    assert text.split() == [f"w{k}" for k in range(1, 101)]
    assert paragraphs[1].startswith("w41 ")
    assert BENCH_PARAGRAPH_WORDS == 40


async def test_bench_answer_is_n_words_then_stop_and_usage() -> None:
    events = [e for _, e in await _timed(DemoProvider(token_delay=0.001), "go [bench:85]")]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas).split() == [f"w{k}" for k in range(1, 86)]
    assert events[-2:] == [Finish("stop"), Usage(prompt_tokens=2, completion_tokens=85)]


async def test_bench_first_word_at_once_then_on_an_absolute_schedule() -> None:
    delay = 0.02
    timed = await _timed(DemoProvider(token_delay=delay), "[bench:30]")
    arrivals = [t for t, e in timed if isinstance(e, TextDelta)]
    # No thinking pause: the other demo answers wait 5 delays first.
    assert arrivals[0] < delay
    for k, at in enumerate(arrivals, start=1):
        assert at >= (k - 1) * delay - 0.002, f"w{k} early"


async def test_bench_late_words_come_at_once_and_the_schedule_holds() -> None:
    """A loop blocked for a while (a busy server): the words that fell due meanwhile
    come out back to back, and the later ones are on their original schedule."""
    delay = 0.01
    provider = DemoProvider(token_delay=delay)
    loop = asyncio.get_running_loop()
    start = loop.time()
    stream = provider.stream(messages=[ChatMessage("user", "[bench:40]")], model="demo")
    arrivals: list[float] = []
    async for event in stream:
        if isinstance(event, TextDelta):
            arrivals.append(loop.time() - start)
            if len(arrivals) == 5:
                # Block the loop (no await) for 10 delays.
                while loop.time() - start < 0.15:
                    pass
    burst = arrivals[5:11]
    assert max(burst) - min(burst) < delay  # w6..w11 were all due: no sleeps between them
    # Back on the original schedule: a relative sleep would end 10 delays late.
    assert abs(arrivals[-1] - 39 * delay) < 0.04


async def test_bench_respects_max_tokens() -> None:
    events = [e for _, e in await _timed(DemoProvider(token_delay=0), "[bench:50]", max_tokens=10)]
    assert sum(isinstance(e, TextDelta) for e in events) == 10
    assert Finish("length") in events
    assert events[-1] == Usage(prompt_tokens=1, completion_tokens=10)


async def test_other_prompts_still_get_markdown_after_a_pause() -> None:
    delay = 0.005
    timed = await _timed(DemoProvider(token_delay=delay), "show me a table")
    first = next(t for t, e in timed if isinstance(e, TextDelta))
    assert first >= 5 * delay
    text = "".join(e.text for _, e in timed if isinstance(e, TextDelta))
    assert "| Transport |" in text
    assert timed[-2][1] == Finish("stop")


async def _answer(messages: list[ChatMessage], max_tokens: int | None = None) -> str:
    stream = DemoProvider(token_delay=0.0).stream(
        messages=messages, model="demo", max_tokens=max_tokens
    )
    return "".join([e.text async for e in stream if isinstance(e, TextDelta)])


async def test_a_prefill_is_continued_from_where_it_stops_even_inside_a_word() -> None:
    """Continue: the demo model takes a final assistant message as a prefill."""
    question = ChatMessage("user", "show me some python code")
    whole = await _answer([question])
    for cut in (1, 57, 58, 200, len(whole) // 2, len(whole) - 1):
        prefill = whole[:cut].rstrip()
        rest = await _answer([question, ChatMessage("assistant", prefill)])
        assert prefill + rest == whole, cut


async def test_a_prefill_of_the_whole_answer_brings_nothing_more() -> None:
    question = ChatMessage("user", "hello")
    whole = await _answer([question])
    assert await _answer([question, ChatMessage("assistant", whole)]) == ""


async def test_a_truncated_bench_answer_is_continued() -> None:
    question = ChatMessage("user", "[bench:60]")
    first = await _answer([question], max_tokens=25)
    assert first.split()[-1] == "w25"
    rest = await _answer([question, ChatMessage("assistant", first)])
    assert (first + rest).split() == [f"w{k}" for k in range(1, 61)]


async def _thought(
    provider: DemoProvider,
    messages: list[ChatMessage],
    effort: ReasoningEffort | None = None,
) -> tuple[str, str, Usage]:
    stream = provider.stream(messages=messages, model="demo", reasoning_effort=effort)
    events = [event async for event in stream]
    thought = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    usage = next(e for e in events if isinstance(e, Usage))
    return thought, answer, usage


async def test_the_demo_model_thinks_when_asked_to_and_only_then() -> None:
    demo = DemoProvider(token_delay=0)
    thought, answer, usage = await _thought(demo, [ChatMessage("user", "Think, then say hi")])
    assert thought.count("\n\n") == 1  # medium effort: two paragraphs
    assert answer.startswith("## Hello from the demo model")
    assert usage.reasoning_tokens is not None
    assert usage.completion_tokens is not None
    assert usage.completion_tokens > usage.reasoning_tokens  # the thinking's counted in
    plain, _, plain_usage = await _thought(demo, [ChatMessage("user", "say hi, thinking aside")])
    assert (plain, plain_usage.reasoning_tokens) == ("", None)


async def test_the_thinking_demo_model_always_thinks_as_hard_as_asked() -> None:
    thinking = DemoProvider(token_delay=0, always_think=True)
    question = [ChatMessage("user", "hi")]
    low, _, _ = await _thought(thinking, question, "low")
    high, _, _ = await _thought(thinking, question, "high")
    assert (low.count("\n\n"), high.count("\n\n")) == (0, 2)
    # Continuing an answer (a prefill) is no time to think again.
    again, _, _ = await _thought(thinking, [*question, ChatMessage("assistant", "## Hel")])
    assert again == ""


async def test_the_demo_model_lists_the_attachments_it_received() -> None:
    from streaming.providers.base import FilePart, ImagePart

    parts = (
        ImagePart("data:,", "shot.png", "image/png", 2048, 640, 480),
        FilePart("notes.txt", "text/plain", 12, "one\ntwo"),
        FilePart("scan.pdf", "application/pdf", 3 * 1024 * 1024, "", "no text layer"),
    )
    provider = DemoProvider(token_delay=0)
    stream = provider.stream(messages=[ChatMessage("user", "hi", parts=parts)], model="demo")
    text = "".join([e.text async for e in stream if isinstance(e, TextDelta)])
    assert text.startswith(
        "I received 3 attachments:\n\n"
        "- ` shot.png `: image/png, 2.0 KB, 640 x 480 px\n"
        "- ` notes.txt `: text/plain, 12 bytes, 2 lines of text\n"
        "- ` scan.pdf `: application/pdf, 3.0 MB, no text layer\n\n"
    )


@pytest.mark.parametrize(
    ("question", "expression"),
    [
        ("What is 2^10?", "2^10"),
        ("(2^10 - 24) / 8 please", "(2^10 - 24) / 8"),
        ("6 \u00d7 7", "6 \u00d7 7"),
        ("What happened on 2026-12-06?", None),
        ("Meet on 6/12/2026 at noon", None),
        ("Call 555-123-4567", None),
        ("On 2026-12-06, what is 3 + 4?", "3 + 4"),
        ("Tell me a story", None),
    ],
)
def test_arithmetic_is_found_and_dates_are_not_sums(question: str, expression: str | None) -> None:
    assert arithmetic_in(question) == expression
