"""The offline demo model: the embedded default when no endpoint is configured.

It streams real markdown (headings, lists, code, tables) word by word at a
model-like pace, so a fresh checkout shows everything Spool does with no key
and no network. The answer is picked from the prompt's words; ``[demo:fail]``
in a prompt makes it fail halfway, to show how failures keep partial answers.

``[bench:N]`` in a prompt is the serving benchmark's answer (bench/streams.py):
N numbered words ``w1 w2 …``, a new paragraph every ``BENCH_PARAGRAPH_WORDS``
words, on an absolute schedule (see ``bench_words``).

Reasoning: asked to "think" (the word in the prompt), or built with
``always_think`` (the "demo-thinking" model of the picker), it thinks first:
a few sentences streamed as ``ReasoningDelta`` (one paragraph per effort
level: low 1, medium 2, high 3; medium when no effort is asked), then its
answer, as a reasoning model served with a reasoning parser does. It does not
think again to continue a prefill.

Titles: asked with the title prompt (``streaming/runs/titles.py``), the demo
model makes a title from the question itself (``demo_title``): its words
without the asking ("how do I", "please", "show me a"…), capitalised.

Prefill (Continue): when the messages end with an assistant message, the demo
model continues that text, as servers that take a prefill do: it streams the
rest of its answer from where the given text stops (mid-word included).

Tools: offered the calculator, it calls it for an arithmetic question ("what
is 2^10?"), as a served model would: one ``ToolCall``, and its turn ends a
moment later; given the result (a ``tool`` message), it answers with it.

Attachments: the demo model starts its answer by listing what arrived with
the question (name, type, size; an image's dimensions, a file's lines), so a
new user, and a test, can see what a model would be given.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence

from streaming.providers.base import (
    ChatMessage,
    FilePart,
    Finish,
    ImagePart,
    ProviderError,
    ProviderEvent,
    ReasoningDelta,
    ReasoningEffort,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from streaming.runs.titles import TITLE_INSTRUCTION

# Words plus the whitespace before them: about one token each.
_TOKEN = re.compile(r"\s*\S+|\s+")
_BENCH = re.compile(r"\[bench:(\d+)\]")
_THINK = re.compile(r"\bthink\b", re.IGNORECASE)
# What the demo model thinks, a paragraph per effort level.
_THOUGHTS = (
    "The user wants to see how I think before I answer. I will look at the "
    "question first, then decide what kind of answer fits it.",
    "A short overview is the safest choice: it shows **markdown** rendering and "
    "points at what else can be tried. Code or a table would only fit if asked.",
    "Let me double-check: nothing in the question needs a calculation, so no tool "
    "is called. I will keep the answer friendly and to the point.",
)
_EFFORT_PARAGRAPHS = {"low": 1, "medium": 2, "high": 3}
# Paragraphs as long as a real answer's, so blocks freeze as they would.
BENCH_PARAGRAPH_WORDS = 40
# An arithmetic expression in a question: numbers joined by operators
# ("2^10", "(2^10 - 24) / 8"; the multiplication and division signs too).
_ARITHMETIC = re.compile(r"[-(]*\d[\d.]*(?:\s*[-+*/^%\u00d7\u00f7]+\s*[(]*\s*\d[\d.]*\s*\)*)+")
# Three numbers joined by the same "-" or "/" with no spaces (2026-12-06,
# 6/12/2026, 555-123-4567) are a date or a number to dial, never a sum.
_NOT_A_SUM = re.compile(r"\b\d+([-/])\d+\1\d+\b")


def arithmetic_in(question: str) -> str | None:
    """The arithmetic a question asks for ("what is 2^10?" → "2^10"), if any."""
    found = _ARITHMETIC.search(_NOT_A_SUM.sub(lambda m: " " * len(m.group()), question))
    return found.group().strip() if found else None


# After its call, the turn's end (finish reason, usage) comes this many token
# delays later: the chip is seen running, as with a served model.
TOOL_TURN_TAIL_TOKENS = 20

_CODE = '''Here is a small, well-behaved **retry helper** in Python:

```python
import asyncio
import random


async def retry(call, *, attempts: int = 5, base: float = 0.2):
    """Call `call()` until it succeeds, backing off exponentially."""
    for attempt in range(attempts):
        try:
            return await call()
        except ConnectionError:
            if attempt == attempts - 1:
                raise
            delay = base * 2**attempt * (1 + random.random())
            await asyncio.sleep(delay)
```

A few notes:

1. The jitter (`random.random()`) keeps many clients from retrying in lockstep.
2. Only `ConnectionError` is retried; a bug should fail fast.
3. The last failure is re-raised, so callers still see what went wrong.
'''

_TABLE = """Here is how the three common streaming transports compare:

| Transport | Direction | Reconnect | Through proxies |
|---|---|---|---|
| Server-Sent Events | server → client | built in, with `Last-Event-ID` | easy (plain HTTP) |
| WebSocket | both ways | by hand | needs upgrade support |
| Long polling | server → client | every request | easy, but chatty |

For a chat answer, **Server-Sent Events** fit best: the data flows one way, and the \
browser resumes a cut stream by itself.
"""

_OVERVIEW = """## Hello from the demo model

I'm Spool's built-in **demo model**. I run offline, so you can try everything \
without an API key. Connect a real model with `SPOOL_LLM_BASE_URL`.

### What you can try

- Ask for *code* to see highlighted code blocks stream in.
- Ask for a *table* to see tables render as they arrive.
- Press **Stop** (or `Esc`) at any moment: the partial answer is kept.
- Reload the page while I'm writing: the answer picks up where it was.

> Every answer is rendered as markdown on the server and streamed as HTML,
> so the page never shows half-formed markup.

That's all for now. What would you like to see?
"""


# Words that ask rather than name: left out at the start of the demo's titles.
_ASKING = frozenset(
    {"a", "an", "the", "please", "can", "could", "would", "will", "you", "i", "me"}
    | {"my", "we", "us", "do", "does", "did", "how", "what", "why", "is", "are", "was"}
    | {"show", "tell", "give", "explain", "write", "make", "about", "some", "hi", "hello"}
)
_APOSTROPHES = "'\u2019"
_WORD = re.compile(rf"[\w{_APOSTROPHES}+#.-]+")
TITLE_WORDS = 6


def demo_title(question: str) -> str:
    """A title made from the question: its words from the first one that
    names something ("How do I write a retry helper?" -> "Retry helper")."""
    words = [w for w in (w.strip(".-" + _APOSTROPHES) for w in _WORD.findall(question)) if w]
    start = next((i for i, w in enumerate(words) if w.lower() not in _ASKING), 0)
    named = [w for w in words[start:] if w.lower() != "please"][:TITLE_WORDS]
    title = " ".join(named) or "Demo conversation"
    return title[0].upper() + title[1:]


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _code(text: str) -> str:
    """``text`` as an inline code span, whatever backticks it holds."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def acknowledgement(message: ChatMessage | None) -> str:
    """What the demo model says it received with ``message``: one list item
    per attachment, or nothing."""
    if message is None or not message.parts:
        return ""
    items = []
    for part in message.parts:
        match part:
            case ImagePart():
                what = f"{part.width} x {part.height} px"
            case FilePart():
                lines = part.text.count("\n") + 1 if part.text else 0
                what = f"{lines} lines of text" if part.text else part.note or "no text"
        items.append(f"- {_code(part.name)}: {part.media_type}, {_size(part.size)}, {what}")
    count = len(items)
    head = f"I received {count} attachment{'s' if count != 1 else ''}:"
    return head + "\n\n" + "\n".join(items) + "\n\n"


def _pick_answer(prompt: str) -> str:
    words = prompt.lower()
    if "code" in words or "python" in words or "function" in words:
        return _CODE
    if "table" in words or "compare" in words:
        return _TABLE
    if "long" in words:
        return "\n".join([_OVERVIEW, _CODE, _TABLE])
    return _OVERVIEW


class DemoProvider:
    name = "demo"

    def __init__(self, *, token_delay: float = 0.03, always_think: bool = False) -> None:
        self._delay = token_delay
        self._always_think = always_think

    async def stream(
        self,
        *,
        messages: Sequence[ChatMessage],
        model: str,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int | None = None,
        reasoning_effort: ReasoningEffort | None = None,
    ) -> AsyncIterator[ProviderEvent]:
        question = next((m for m in reversed(messages) if m.role == "user"), None)
        prompt = question.content if question is not None else ""
        if messages and messages[0].role == "system" and messages[0].content == TITLE_INSTRUCTION:
            await asyncio.sleep(self._delay)
            yield TextDelta(demo_title(prompt))
            yield Finish("stop")
            return
        prefill = messages[-1].content if messages and messages[-1].role == "assistant" else ""
        if messages and messages[-1].role == "tool":
            async for event in self._tool_answer(messages):
                yield event
            return
        asked = bool(messages) and messages[-1].role == "user"
        expression = arithmetic_in(prompt) if asked else None
        if expression is not None and any(t.name == "calculator" for t in tools):
            async for event in self._call_calculator(expression, messages):
                yield event
            return
        if (bench := _BENCH.search(prompt)) is not None:
            words = _continued(bench_words(int(bench.group(1))), prefill)
            async for event in self._bench(words, messages, max_tokens):
                yield event
            return
        answer = acknowledgement(question) + _pick_answer(prompt)
        tokens = _continued(_TOKEN.findall(answer), prefill)
        fail_at = len(tokens) // 2 if "[demo:fail]" in prompt else None
        # A model thinks a moment before its first token.
        await asyncio.sleep(self._delay * 5)
        thought: list[str] = []
        if not prefill and (self._always_think or _THINK.search(prompt)):
            paragraphs = _THOUGHTS[: _EFFORT_PARAGRAPHS[reasoning_effort or "medium"]]
            thought = _TOKEN.findall("\n\n".join(paragraphs))
            for token in thought:
                yield ReasoningDelta(token)
                await asyncio.sleep(self._delay)
        index = -1  # nothing left to say after a prefill of the whole answer
        for index, token in enumerate(tokens):
            if index == fail_at:
                raise ProviderError(
                    "upstream_down",
                    "The demo model failed on purpose ([demo:fail]). The partial answer is "
                    "kept; press Retry to try again.",
                    retryable=True,
                )
            if max_tokens is not None and index >= max_tokens:
                yield Finish("length")
                break
            yield TextDelta(token)
            await asyncio.sleep(self._delay)
        else:
            yield Finish("stop")
        prompt_tokens = sum(len(_TOKEN.findall(m.content)) for m in messages)
        # As servers count them: the reasoning's tokens are output tokens too.
        answered = min(len(tokens), index + 1)
        yield Usage(prompt_tokens, answered + len(thought), len(thought) if thought else None)

    async def _call_calculator(
        self, expression: str, messages: Sequence[ChatMessage]
    ) -> AsyncIterator[ProviderEvent]:
        await asyncio.sleep(self._delay * 5)
        yield ToolCall("call_demo_1", "calculator", {"expression": expression})
        await asyncio.sleep(self._delay * TOOL_TURN_TAIL_TOKENS)
        yield Finish("tool_calls")
        yield Usage(prompt_tokens=_prompt_tokens(messages), completion_tokens=len(expression))

    async def _tool_answer(self, messages: Sequence[ChatMessage]) -> AsyncIterator[ProviderEvent]:
        """The answer after the calculator's result: the result, or what went wrong."""
        calls = next((m.tool_calls for m in reversed(messages) if m.tool_calls), ())
        arguments = calls[0].arguments if calls else {}
        expression = arguments.get("expression", "") if isinstance(arguments, dict) else ""
        result = messages[-1].content
        if result.startswith("Error:"):
            text = f"The calculator could not work that out ({result[6:].strip()})."
        else:
            text = f"`{expression}` is **{result}**.\n\nWorked out exactly by the calculator tool."
        tokens = _TOKEN.findall(text)
        await asyncio.sleep(self._delay * 5)
        for token in tokens:
            yield TextDelta(token)
            await asyncio.sleep(self._delay)
        yield Finish("stop")
        yield Usage(prompt_tokens=_prompt_tokens(messages), completion_tokens=len(tokens))

    async def _bench(
        self, words: list[str], messages: Sequence[ChatMessage], max_tokens: int | None
    ) -> AsyncIterator[ProviderEvent]:
        """The benchmark's answer: word k (1-based) is due ``(k - 1) * delay`` after
        the first, which comes at once (no thinking pause, so time to the first
        word measures the server). Each word waits for its due time on the
        loop's clock, never for a fixed sleep after the previous one: a late
        word is sent at once and the delay does not accumulate."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        for k, token in enumerate(words, start=1):
            if max_tokens is not None and sent >= max_tokens:
                yield Finish("length")
                break
            wait = start + (k - 1) * self._delay - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            yield TextDelta(token)
            sent += 1
        else:
            yield Finish("stop")
        prompt_tokens = sum(len(_TOKEN.findall(m.content)) for m in messages)
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=sent)


def _continued(tokens: list[str], prefill: str) -> list[str]:
    """The tokens of the answer that follow ``prefill``, the first one cut
    where the prefill stops inside it; all of them without a prefill.

    The prefill is matched as far as it agrees with the answer, so a text
    that went another way continues from where it left the answer.
    """
    if not prefill:
        return tokens
    text = "".join(tokens)
    agree = next(
        (i for i, (a, b) in enumerate(zip(text, prefill, strict=False)) if a != b),
        min(len(text), len(prefill)),
    )
    rest, at = [], 0
    for token in tokens:
        end = at + len(token)
        if end > agree:
            rest.append(token[max(0, agree - at) :])
        at = end
    return rest


def bench_words(count: int) -> list[str]:
    """The ``[bench:N]`` answer as tokens: ``"w1"``, ``" w2"``, …; after every
    ``BENCH_PARAGRAPH_WORDS`` words a blank line starts a new paragraph."""
    tokens = []
    for k in range(1, count + 1):
        if k == 1:
            before = ""
        elif (k - 1) % BENCH_PARAGRAPH_WORDS == 0:
            before = "\n\n"
        else:
            before = " "
        tokens.append(f"{before}w{k}")
    return tokens


def _prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    return sum(len(_TOKEN.findall(m.content)) for m in messages)
