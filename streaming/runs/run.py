"""One generation: reads the provider, writes frames to the event log.

The run is the only writer of stream events (see streaming/events.py). It
coalesces provider deltas into frames (the first at once, then at most one per
``FRAME_INTERVAL_S``), renders markdown once for every subscriber,
checkpoints content to the database, enforces the budgets, and always ends
with exactly one ``final`` event and one ``RunStore.finished`` call, whatever
happened: completion, Stop, detach, provider error, timeout or a bug.

A run may continue a stored partial answer (``RunSpec.resume``, Continue):
its renderer starts from that text, sent as the run's first frame, and what
the model writes next is joined to it by ``seam.Seam``.

A model offered tools (``RunSpec.tools``) is streamed in rounds: a turn that
calls tools is answered by ``tool_loop.ToolLoop`` and the model streamed
again with the results, the text of every round rendered into one answer
with the calls' chips between (``segments.SegmentedMarkdown``).

What a frame holds, what is read out and how a stopped answer is clamped
live in ``frames.AnswerFrames``; the run decides when frames are due.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, cast

from streaming.eventlog.base import EventLog
from streaming.events import GENERATING, Emit, EventData, EventType
from streaming.metrics import CHARS_PER_TOKEN, RunClock
from streaming.providers import errors
from streaming.providers.base import (
    Finish,
    HoldsBack,
    Provider,
    ProviderError,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from streaming.runs.frames import AnswerFrames
from streaming.runs.pump import End, Queue, UsageSum, close_pump, pump_events
from streaming.runs.reasoning import ReasoningTrack
from streaming.runs.seam import Seam
from streaming.runs.spec import Budgets, CancelReason, RunSpec
from streaming.runs.store import RunError, RunOutcome, RunStore
from streaming.runs.titles import TitleRequest, settle
from streaming.runs.tool_loop import TOOL_ROUNDS_REASON, ToolLoop
from streaming.status import FinalStatus, RunStatus

logger = logging.getLogger(__name__)

# ~20 paints/s: smooth to the eye, cheap for server, network and screen readers.
FRAME_INTERVAL_S = 0.05
# A crash loses at most this much of the answer; more often would load the DB.
CHECKPOINT_INTERVAL_S = 1.0
# "Generating answer…" is said only when the first block takes longer than this;
# a quick first block speaks for itself (docs/accessibility.md, Status and alerts).
GENERATING_NOTICE_S = 1.0

# No wait shorter than this: uvloop (under uvicorn) counts timers in whole
# milliseconds, so a 0.3 ms wait fires at once, again and again until the
# deadline passes: a busy loop in every run before every frame.
MIN_WAIT_S = 0.001


_OUTPUT = (TextDelta, ReasoningDelta, ToolCall)


class Run:
    def __init__(
        self,
        spec: RunSpec,
        provider: Provider,
        *,
        log: EventLog,
        store: RunStore,
        budgets: Budgets,
    ) -> None:
        self.spec = spec
        self._provider = provider
        self._log = log
        self._store = store
        self._budgets = budgets
        self._clock = RunClock(accepted_at=spec.accepted_at)
        self._chars = 0  # answer characters received, for the output-token budget
        self._last_checkpoint = 0.0
        self._usage = UsageSum()
        self._finish_reason = ""
        self.cancel_reason: CancelReason | None = None
        self.finalizing = False
        self.seen_offset: int | None = None  # Stop: last event the user's page applied
        self.opened = asyncio.Event()  # set once the log holds the run's first event
        # Every event goes through here: mypy checks each kind's payload (events.Emit).
        self._emit: Emit = self._append
        self._answer = AnswerFrames(self._emit, self._clock)
        resume = spec.resume
        self._seam = (
            None
            if resume is None
            else Seam(resume.text, verbatim=resume.verbatim, after_break=resume.after_chip)
        )
        self._title: TitleRequest | None = None
        self._tools = ToolLoop(
            spec.tools,
            run_id=spec.run_id,
            emit=self._emit,
            markdown=self._answer.markdown,
            before_chip=self._answer.close_text,
            earlier=() if spec.resume is None else spec.resume.tool_calls,
        )
        self._reasoning = ReasoningTrack(self._emit)  # the thinking, apart from the answer

    async def execute(self) -> None:
        """Run to the end; never raises (a cancellation is recorded, not propagated)."""
        status: FinalStatus = RunStatus.COMPLETE
        error: RunError | None = None
        queue: Queue = asyncio.Queue()
        pump: asyncio.Task[None] | None = None
        stream: AsyncIterator[ProviderEvent] | None = None
        try:
            # The log first: the task takes its first step before the request
            # that started it has answered, so a page that subscribes right
            # after the send already finds the run's log.
            await self._emit(EventType.STATUS, {"state": RunStatus.STREAMING})
            if self._seam is not None and self.spec.resume is not None:
                # Before the first wait: a page that subscribes at once finds it.
                await self._answer.resume(self._seam.head, self.spec.resume.chips)
                # Its calls, told again for programs (the page has their chips).
                await self._tools.resume()
            if self.spec.resume is not None:
                # The stored thinking stays, and a continuation's adds to it.
                earlier = self.spec.resume.metrics.reasoning_ms
                await self._reasoning.resume(self.spec.resume.reasoning, earlier)
            await self._store.started(self.spec.run_id)
            self._clock.started_at = time.monotonic()
            if self.spec.title is not None:
                # Its own request, beside the answer: ready by the answer's end.
                name = f"title-{self.spec.run_id}"
                self._title = TitleRequest(
                    self.spec.title, self._provider, model=self.spec.model, name=name
                )
            messages = list(self.spec.messages)
            while True:  # one model turn per round; tool calls ask for another
                turn_start = len(self._answer.markdown.text)
                self._usage.request()
                stream = self._provider.stream(
                    messages=messages,
                    model=self.spec.model,
                    tools=self._tools.specs,
                    max_tokens=self.spec.max_tokens or self._budgets.max_output_tokens,
                    **_effort(self.spec),
                )
                pump = asyncio.create_task(
                    pump_events(stream, queue), name=f"pump-{self.spec.run_id}"
                )
                status = await self._consume(queue)
                await close_pump(pump)
                pump = None
                await self._take_held(stream)  # the wall clock may have cut it short
                if status is not RunStatus.COMPLETE or not self._tools.turn_called:
                    break
                if self._tools.capped:
                    status, self._finish_reason = RunStatus.TRUNCATED, TOOL_ROUNDS_REASON
                    break
                turn_text = self._answer.markdown.text[turn_start:].strip()
                messages += await self._tools.finish_turn(turn_text)
                await self._checkpoint()  # the finished chips
                queue = asyncio.Queue()
        except asyncio.CancelledError:
            # Our own cancel (Stop, detach or shutdown): record it and finish normally, so
            # the partial answer is saved below rather than lost with the task.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            stopped = self.cancel_reason == "stop"
            status = RunStatus.STOPPED if stopped else RunStatus.INTERRUPTED
        except ProviderError as exc:
            logger.warning("run %s provider error %s", self.spec.correlation_id, exc)
            # retry_after travels with the error: Retry stays closed until then.
            error = RunError(exc.code, exc.message, exc.retryable, exc.retry_after)
            status = RunStatus.FAILED
        except Exception:
            logger.exception("run %s crashed", self.spec.correlation_id)
            status = RunStatus.FAILED
            error = RunError("internal", "Spool hit an internal error. Retry.", True)
        finally:
            if pump is not None:
                await close_pump(pump)  # the upstream server sees the hang-up now
                if status is not RunStatus.STOPPED:  # a Stop keeps what was shown
                    await self._take_held(stream)
            await self._tools.aclose()
        await self._finalize(status, error)

    async def _consume(self, queue: Queue) -> FinalStatus:
        wall_deadline = self._clock.accepted_at + self._budgets.wall_clock_s
        last_event_at = time.monotonic()
        notice_at: float | None = last_event_at + GENERATING_NOTICE_S
        next_frame_at = 0.0
        while True:
            now = time.monotonic()
            new_blocks = self._answer.markdown.block_count - self._answer.resumed_blocks
            if notice_at is not None and (new_blocks or now >= notice_at):
                if not new_blocks:
                    await self._emit(EventType.STATUS, {"state": GENERATING})
                notice_at = None
            waits = [wall_deadline - now, last_event_at + self._budgets.idle_timeout_s - now]
            if self._answer.pending or self._reasoning.pending:
                waits.append(next_frame_at - now)
            if notice_at is not None:
                waits.append(notice_at - now)
            try:
                item = await asyncio.wait_for(queue.get(), max(MIN_WAIT_S, min(waits)))
            except TimeoutError:
                now = time.monotonic()
                if (self._answer.pending or self._reasoning.pending) and now >= next_frame_at:
                    await self._frames()
                    next_frame_at = now + FRAME_INTERVAL_S
                elif notice_at is not None and now >= notice_at:
                    continue  # said at the top of the loop
                elif now >= wall_deadline:
                    self._finish_reason = "time_limit"
                    return RunStatus.TRUNCATED
                elif now - last_event_at >= self._budgets.idle_timeout_s:
                    # The run owns the idle timeout: it sees every provider.
                    raise errors.idle_timeout(self._budgets.idle_timeout_s) from None
                continue
            last_event_at = time.monotonic()
            if isinstance(item, End):
                if self._seam is not None:
                    self._answer.pending += self._seam.flush()
                if self._finish_reason == "length":
                    return RunStatus.TRUNCATED
                return RunStatus.COMPLETE
            if isinstance(item, BaseException):
                raise item
            if self._clock.provider_first_at is None and isinstance(item, _OUTPUT):
                # Output, not the server's bookkeeping (usage, finish): the
                # model's time to first token.
                self._clock.provider_first_at = time.monotonic()
            if isinstance(item, ReasoningDelta):
                notice_at = None  # "Thinking…" is said instead of "Generating answer…"
                await self._reasoning.add(item.text)
                self._chars += len(item.text)  # servers count thinking as output too
                if time.monotonic() >= next_frame_at:
                    await self._frames()
                    next_frame_at = time.monotonic() + FRAME_INTERVAL_S
            elif isinstance(item, TextDelta):
                if self._reasoning.thinking and item.text.strip():
                    await self._reasoning.end()  # the answer starts: "Thought for N s"
                self._take_answer(item.text)
                self._chars += len(item.text)
                if self._answer.pending and time.monotonic() >= next_frame_at:
                    await self._frames()
                    next_frame_at = time.monotonic() + FRAME_INTERVAL_S
                # A running count: re-measuring the whole text per token is quadratic.
                if self._chars / CHARS_PER_TOKEN > self._budgets.max_output_tokens:
                    self._finish_reason = "length"
                    return RunStatus.TRUNCATED
            elif isinstance(item, ToolCall):
                await self._reasoning.end()  # the model acts: tool time is not thinking
                await self._tools.call(item)
                await self._checkpoint()  # the chip, after the text before it
            elif isinstance(item, Usage):
                # Every round is a request the model server counts: the sum.
                usage = self._usage.add(item)
                await self._emit(
                    EventType.USAGE,
                    {
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "reasoning_tokens": usage.reasoning_tokens,
                    },
                )
            elif isinstance(item, Finish):
                self._finish_reason = item.reason

    async def _take_held(self, stream: AsyncIterator[ProviderEvent] | None) -> None:
        """Text the provider held back when its stream was closed before the
        end (half a ``</think`` tag when the idle timeout fired): received, so
        kept, and framed with the rest at the finish."""
        if not isinstance(stream, HoldsBack):
            return
        for event in stream.release():
            if isinstance(event, ReasoningDelta):
                await self._reasoning.add(event.text)
            elif isinstance(event, TextDelta):
                self._take_answer(event.text)

    def _take_answer(self, text: str) -> None:
        # A continuation's start may repeat the answer: held back until known.
        self._answer.pending += text if self._seam is None else self._seam.feed(text)

    async def _frames(self) -> None:
        """The pending reasoning's frame, then the answer's, then a checkpoint when due."""
        await self._reasoning.frame()
        if self._answer.pending:
            await self._answer.frame()
        if time.monotonic() - self._last_checkpoint >= CHECKPOINT_INTERVAL_S:
            # While the model thinks too: the row shows a live run's progress.
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        """The answer so far to the database: its text, its thinking and its
        tool calls with their chips, so a crash leaves the chips in place too."""
        self._last_checkpoint = time.monotonic()
        await self._store.checkpoint(
            self.spec.run_id,
            content=self._answer.markdown.text,
            reasoning=self._reasoning.text,
            tool_calls=self._tools.records(live=True),
        )

    async def _finalize(self, status: FinalStatus, error: RunError | None) -> None:
        # From here on the manager no longer cancels this task (see
        # RunManager.stop): a late Stop must not interrupt the final save.
        self.finalizing = True
        try:
            if self._seam is not None:
                self._answer.pending += self._seam.flush()
            # A Stop or a failure while thinking keeps the thoughts received.
            await self._reasoning.end()
            await self._reasoning.finish()
            self._clock.reasoning_frame_at = self._reasoning.first_frame_at
            content, html = await self._answer.finish(
                stopped=status is RunStatus.STOPPED,
                seen_offset=self.seen_offset,
                resume=self.spec.resume,
                # A chip still running (Stop during a tool call) shows it stopped.
                rerender=self._tools.settle(),
            )
            if error is not None:
                await self._emit(EventType.ERROR, error.as_data())
            self._clock.ended_at = time.monotonic()
            # Reported for every request, or unknown (the metrics estimate it).
            usage = self._usage.total
            metrics = self._clock.metrics(
                text=content[self._answer.resumed_chars :],
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                reasoning=self._reasoning.part_text,
                reasoning_tokens=usage.reasoning_tokens if usage else None,
                reasoning_ms=self._reasoning.part_ms,
            )
            if self.spec.resume is not None:
                metrics = self.spec.resume.earlier_metrics().then(metrics)
            title = await settle(self._title, status)
            outcome = RunOutcome(
                status,
                content,
                html,
                self._finish_reason,
                error,
                metrics,
                self._tools.records(),
                title,
                reasoning=self._reasoning.text,
                reasoning_html=self._reasoning.html,
            )
            try:
                title_saved = await self._store.finished(self.spec.run_id, outcome)
                if title_saved and title is not None:
                    # Saved with the outcome (the owner had not named the
                    # conversation): pages swap it in, before ``final``.
                    await self._emit(EventType.TITLE, {"title": title})
            finally:
                await self._emit(EventType.FINAL, outcome.as_data())
        finally:
            if self._title is not None:
                await self._title.cancel()  # a no-op once settled
            await self._log.close(self.spec.run_id)

    async def _append(self, type: EventType, data: EventData) -> int:
        # A log keeps payloads as JSON objects: the typed dict as it is.
        offset = await self._log.append(self.spec.run_id, type, cast(dict[str, Any], data))
        self.opened.set()
        return offset


def _effort(spec: RunSpec) -> dict[str, Any]:
    """``reasoning_effort`` only when asked: providers without the option take no such
    argument."""
    return {"reasoning_effort": spec.reasoning_effort} if spec.reasoning_effort else {}
