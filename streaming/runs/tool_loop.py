"""The tool side of a run: the calls of each model turn, run concurrently.

A model offered tools may end its turn with calls instead of (or after) text.
Each call is shown as a chip and its tool started as soon as the provider
delivers it; the calls of one turn run concurrently. Once the turn's stream
has ended, the run waits for them (``finish_turn``): each finished call
updates its chip and is announced once ("Calculator: 1024"), and the turn
goes back to the model as the wire wants it: the assistant turn with its
``tool_calls``, then one ``tool`` message per call with its ``tool_call_id``.
Then the run streams the model again.

Bounds: at most ``MAX_TOOL_ROUNDS`` rounds of calls; a turn that still calls
tools after them is not run (the answer ends ``truncated``, finish reason
``tool_rounds``). A call the registry refuses (unknown tool, arguments that
are not a JSON object, a tool error or timeout) is answered with the error
text, which the model can act on: it never fails the run. Stop cancels the
tools still running (``aclose``); they are stored as stopped.

A Continue keeps the stored calls first (``earlier``) and tells them again at
the run's start (``resume``), for programs reading its stream from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streaming.events import Emit, EventType
from streaming.providers.base import ChatMessage, ToolCall, ToolSpec
from streaming.runs import chips
from streaming.runs.segments import SegmentedMarkdown
from streaming.runs.store import STOPPED_CALL, ToolRecord
from streaming.tools.base import ToolOutcome, ToolRegistry

# Rounds of tool calls answered in one answer: enough for a few dependent
# steps, and a model that loops on its tools ends in bounded time and cost.
MAX_TOOL_ROUNDS = 5
# The finish reason of an answer cut off there (docs/providers.md, Tools).
TOOL_ROUNDS_REASON = "tool_rounds"
STOPPED = STOPPED_CALL


@dataclass(slots=True)
class _Call:
    call: ToolCall
    chip_id: str
    running_html: str
    running_text: str
    round: int
    at: int  # the answer's text length when the chip was shown
    task: asyncio.Task[ToolOutcome]
    outcome: ToolOutcome | None = field(default=None)


class ToolLoop:
    """The run's tool calls. ``registry`` None: the model is offered no tools.

    ``before_chip`` is the run's: it sends the text so far and closes the
    text segment, so a chip comes after the text written before it.
    ``earlier``: the calls of the answer a Continue resumes, kept first in
    ``records`` (their chips are in the resumed text's renderer already).
    """

    def __init__(
        self,
        registry: ToolRegistry | None,
        *,
        run_id: str,
        emit: Emit,
        markdown: SegmentedMarkdown,
        before_chip: Callable[[], Awaitable[None]],
        earlier: tuple[ToolRecord, ...] = (),
    ) -> None:
        self._registry = registry
        self._earlier = earlier
        self._run_id = run_id
        self._emit = emit
        self._markdown = markdown
        self._before_chip = before_chip
        self.rounds = 0  # rounds of calls answered so far
        self.unanswered = 0  # calls made past the last round: not run
        self._turn: list[_Call] = []  # the calls of the model's current turn
        self._done: list[_Call] = []  # every call answered, in order
        self._chips = len(earlier)  # chip ids stay unique in the answer

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return () if self._registry is None else self._registry.specs

    @property
    def turn_called(self) -> bool:
        """The model's current turn made calls (answered or past the cap)."""
        return bool(self._turn) or self.unanswered > 0

    @property
    def capped(self) -> bool:
        """The last turn called tools past ``MAX_TOOL_ROUNDS``: the answer ends there."""
        return self.unanswered > 0

    async def resume(self) -> None:
        """A Continue's stored calls, told again at the run's start as they were
        told the first time (``tool_start``, then ``tool_result``), so a program
        that reads the continued answer's stream from its start gets every
        call. Marked ``resumed``: their chips are in the first frame already
        (``frames.AnswerFrames.resume``), so the page draws and says nothing."""
        for n, record in enumerate(self._earlier, start=1):
            chip = record.chip
            chip_id = chip.id if chip is not None else f"tool-{self._run_id}-{n}"
            html = chip.html if chip is not None else ""
            text = chip.text if chip is not None else ""
            await self._emit(
                EventType.TOOL_START,
                {
                    "id": record.id,
                    "chip": chip_id,
                    "name": record.name,
                    "args": record.arguments,
                    "text": text,
                    "html": html,
                    "resumed": True,
                },
            )
            await self._emit(
                EventType.TOOL_RESULT,
                {
                    "id": record.id,
                    "chip": chip_id,
                    "name": record.name,
                    "ok": not record.error,
                    "summary": record.error,
                    "result": record.result,
                    "duration_ms": record.duration_ms,
                    "text": text,
                    "html": html,
                    "running_html": html,
                    "spoken": "",
                    "resumed": True,
                },
            )

    async def call(self, call: ToolCall) -> None:
        """A call the model made: its chip shown, its tool started."""
        if self._registry is None:
            return  # offered none: a server that calls tools anyway is not obeyed
        if self.rounds >= MAX_TOOL_ROUNDS:
            self.unanswered += 1
            return
        await self._before_chip()
        self._chips += 1
        chip_id = f"tool-{self._run_id}-{self._chips}"
        text = chips.running_text(self._registry.describe(call.name, call.arguments))
        html = chips.chip_html(chip_id, chips.RUNNING, text)
        task = asyncio.create_task(
            self._registry.run(call.name, call.arguments), name=f"tool-{chip_id}"
        )
        at = len(self._markdown.text)
        self._turn.append(_Call(call, chip_id, html, text, self.rounds + 1, at, task))
        self._markdown.add_chip(chip_id, html)
        await self._emit(
            EventType.TOOL_START,
            {
                "id": call.id,
                "chip": chip_id,
                "name": call.name,
                "args": call.arguments,
                "text": text,
                "html": html,
            },
        )

    async def finish_turn(self, text: str) -> list[ChatMessage]:
        """Wait for the turn's calls, each told as it ends; then the messages
        that give the model the turn and its results (``text``: what the
        model wrote in the turn)."""
        self.rounds += 1
        waiting = {c.task: c for c in self._turn}
        while waiting:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            # Several may end together: told in the order they were called.
            for task in sorted(done, key=lambda t: self._turn.index(waiting[t])):
                await self._told(waiting.pop(task), task.result())
        turn, self._turn = self._turn, []
        self._done.extend(turn)
        return [
            ChatMessage("assistant", text, tool_calls=tuple(c.call for c in turn)),
            *(
                ChatMessage("tool", c.outcome.content if c.outcome else "", tool_call_id=c.call.id)
                for c in turn
            ),
        ]

    async def _told(self, entry: _Call, outcome: ToolOutcome) -> None:
        entry.outcome = outcome
        name = entry.call.name
        text = chips.finished_text(name, ok=outcome.ok, summary=outcome.summary)
        html = chips.chip_html(entry.chip_id, chips.DONE if outcome.ok else chips.ERROR, text)
        self._markdown.update_chip(entry.chip_id, html)
        await self._emit(
            EventType.TOOL_RESULT,
            {
                "id": entry.call.id,
                "chip": entry.chip_id,
                "name": name,
                "ok": outcome.ok,
                "summary": outcome.summary,
                "result": outcome.content,
                "duration_ms": _ms(outcome.duration_s),
                "text": text,
                "html": html,
                "running_html": entry.running_html,
                "spoken": chips.spoken(
                    name, ok=outcome.ok, result=outcome.content, error=outcome.summary
                ),
            },
        )

    async def aclose(self) -> None:
        """Stop the tools still running (Stop, a failure): nothing outlives the run."""
        for entry in self._turn:
            entry.task.cancel()
        for entry in self._turn:
            with contextlib.suppress(asyncio.CancelledError):
                await entry.task

    def settle(self) -> bool:
        """The chips of calls the run ended before telling (Stop, a failure, a
        shutdown): a call that finished meanwhile shows how it ended, one
        still running shows stopped. True when a chip changed (the run sends
        the answer again: its page's chip would spin for ever otherwise)."""
        changed = False
        for entry in self._turn:
            if entry.outcome is not None:
                continue  # told: its chip is finished already
            task = entry.task
            if task.done() and not task.cancelled():
                entry.outcome = outcome = task.result()
                text = chips.finished_text(entry.call.name, ok=outcome.ok, summary=outcome.summary)
                state = chips.DONE if outcome.ok else chips.ERROR
            else:
                text, state = chips.stopped_text(entry.call.name), chips.STOPPED
            self._markdown.update_chip(entry.chip_id, chips.chip_html(entry.chip_id, state, text))
            changed = True
        return changed

    def records(self, *, live: bool = False) -> tuple[ToolRecord, ...]:
        """Every call shown, in order, with its chip as shown; a call stopped
        before it ended says so. ``live`` (a checkpoint): a call still running
        is stored running (a crash leaves it so: ``ToolRecord.interrupted``)."""
        records = list(self._earlier)
        for entry in [*self._done, *self._turn]:
            outcome = entry.outcome
            if outcome is None and entry.task.done() and not entry.task.cancelled():
                outcome = entry.task.result()  # ended, but the run stopped before telling
            call = entry.call
            if outcome is None:
                running = live and not entry.task.done()
                state = chips.RUNNING if running else chips.STOPPED
                text = entry.running_text if running else chips.stopped_text(call.name)
                error = "" if running else STOPPED
                chip = chips.ChipRecord(entry.chip_id, state, text, entry.at)
                records.append(
                    ToolRecord(
                        call.id, call.name, call.arguments, "", error, None, entry.round, chip
                    )
                )
                continue
            text = chips.finished_text(call.name, ok=outcome.ok, summary=outcome.summary)
            state = chips.DONE if outcome.ok else chips.ERROR
            records.append(
                ToolRecord(
                    call.id,
                    call.name,
                    call.arguments,
                    outcome.content,
                    "" if outcome.ok else outcome.summary,
                    _ms(outcome.duration_s),
                    entry.round,
                    chips.ChipRecord(entry.chip_id, state, text, entry.at),
                )
            )
        return tuple(records)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
