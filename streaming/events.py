"""The typed events a run writes to its log: one vocabulary, two projections.

Every event has an ``offset`` (1, 2, 3… per run) that is also its SSE ``id:``,
so a reconnecting client resumes exactly after what it applied. A run emits
them (``streaming/runs/run.py``); a log's compaction folds them into
``replace`` events (``streaming/snapshot.py``); the HTML projection
(``chatapp/projection.py``) and the JSON projection
(``chatapp/json_projection.py``) read them.

Each kind's payload is a ``TypedDict`` below, and ``Emit`` pairs every kind
with its payload, so mypy refuses a payload that does not match its kind.
Logs store payloads as JSON objects, so ``Event.data`` is a plain dict; a
reader takes the kind's payload with ``cast`` in its ``match`` arm.

Adding a kind (mypy --strict walks you through it):

1. a member of ``EventType`` and a ``TypedDict`` for its payload, here;
2. an overload of ``Emit.__call__`` pairing them, here, then emit it from
   the run;
3. a ``case`` in both projections' ``match`` (``chatapp/projection.py``
   ``_project`` and ``chatapp/json_projection.py`` ``payload``): each ends in
   ``assert_never``, so a kind either does not handle fails mypy. A kind one
   of them ignores says so in its own ``case`` (returns nothing);
4. if it changes what the page shows, ``streaming/snapshot.py`` folds it;
5. its row in the tables of docs/streaming.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal, NotRequired, Protocol, TypedDict, final, overload

from streaming.markdown.ops import TailOp
from streaming.status import FinalStatus, RunStatus


class EventType(StrEnum):
    DELTA = "delta"  # DeltaData
    BLOCK = "block"  # BlockData
    TAIL = "tail"  # TailData
    REPLACE = "replace"  # ReplaceData
    ANNOUNCE = "announce"  # AnnounceData
    ANNOUNCE_DONE = "announce_done"  # AnnounceData
    # A reasoning model's thinking, apart from the answer (streaming/runs/reasoning.py).
    REASONING_DELTA = "reasoning_delta"  # DeltaData
    REASONING_BLOCK = "reasoning_block"  # ReasoningBlockData
    REASONING_TAIL = "reasoning_tail"  # TailHtml
    REASONING_DONE = "reasoning_done"  # ReasoningDoneData: per thinking period
    STATUS = "status"  # StatusData
    USAGE = "usage"  # UsageData
    TOOL_START = "tool_start"  # ToolStartData (streaming/runs/tool_loop.py)
    TOOL_RESULT = "tool_result"  # ToolResultData
    ERROR = "error"  # ErrorData
    TITLE = "title"  # TitleData: the conversation's new title, before ``final``
    FINAL = "final"  # FinalData: always the last event


class DeltaData(TypedDict):
    """Answer text since the previous frame, as stored (line ends normalised).

    A continued answer's first delta is the whole stored partial answer."""

    text: str


class BlockData(TypedDict):
    """A finished top-level block's HTML, appended once."""

    html: str


# Final: ``"ops" in tail`` tells the two apart (mypy narrows only final TypedDicts).
@final
class TailHtml(TypedDict):
    """The whole unfinished last block (after new blocks, or at the end)."""

    html: str


@final
class TailOps(TypedDict):
    """Ops that grow the tail the page already shows (``streaming/markdown/ops.py``).

    Never empty; an event carries ops or html, never both."""

    ops: list[TailOp]


TailData = TailHtml | TailOps


class ReplaceData(TypedDict):
    """The whole answer again, replacing every block and the tail.

    ``{html}``: a re-render of the same text (late link references, or a
    tool chip that settled at the end: stopped, or finished but not told);
    ``{html, text}``: the text changed too (a Stop's clamp, a finished log's
    compaction); ``{html, tail, text}``: a live log's compacted prefix, whose
    tail later ``tail`` ops grow (``html`` is then the blocks only). A
    compaction that folded tool events also carries their calls
    (``tool_calls``), so a reader resuming from it still knows them.
    """

    html: str
    tail: NotRequired[str]
    text: NotRequired[str]
    tool_calls: NotRequired[list[ToolCallState]]
    # A compacted log's: the thinking folded with the answer, reset with it.
    reasoning: NotRequired[ReasoningState]


class AnnounceData(TypedDict):
    """What screen readers hear: finished blocks now (``announce``), or the
    whole answer's read-out once at its end (``announce_done``)."""

    text: str


# The first block is slow to come: "Generating answer…" (not a run status).
GENERATING: Final = "generating"


# The first thought of a reasoning model: "Thinking…" (not a run status either).
THINKING: Final = "thinking"


class StatusData(TypedDict):
    """``since`` only with ``thinking``: wall-clock seconds (``time.time()``) when
    the thinking began, so a page rendered later can count on from it."""

    state: Literal[RunStatus.STREAMING, "generating", "thinking"]
    since: NotRequired[float]


class ReasoningBlockData(TypedDict):
    """A finished block of the thinking, appended once; with ``replace``: the
    whole thinking re-rendered (late link references), replacing its blocks
    and tail."""

    html: str
    replace: NotRequired[bool]


class ReasoningDoneData(TypedDict):
    """The thinking is over: the answer's first words arrived, the model called
    a tool, or the run ended. ``again``: a later tool round thought once more,
    and ``duration_ms`` is every period's sum (pages update the summary, say
    nothing new); a Continue sends the stored thinking's with ``again`` too."""

    duration_ms: float | None
    again: NotRequired[bool]


class ReasoningState(TypedDict):
    """The thinking as a compacted log's ``replace`` carries it (``streaming/snapshot.py``)."""

    html: str  # its finished blocks
    tail: str
    text: str
    since: float | None
    duration_ms: float | None
    done: bool


class UsageData(TypedDict):
    prompt_tokens: int | None
    completion_tokens: int | None  # the reasoning's included, as servers count them
    reasoning_tokens: NotRequired[int | None]


class ToolStartData(TypedDict):
    """A tool call the model made, shown running (its chip) and started.

    ``id`` is the model's (echoed back to it as ``tool_call_id``); ``chip`` the
    chip element's id, unique in the run (models may reuse call ids across
    rounds); ``args`` the arguments object, or the text sent when it was not
    one; ``text`` the running chip's words, ``html`` the chip, escaped.

    ``resumed``: a call of the stored answer a Continue goes on from, told
    again for programs (``tool_loop.ToolLoop.resume``): its chip is already
    in the run's first frame, so pages draw nothing for it.
    """

    id: str
    chip: str
    name: str
    args: dict[str, Any] | str
    text: str
    html: str
    resumed: NotRequired[bool]


class ToolResultData(TypedDict):
    """The call finished: ``html`` (the finished chip) replaces ``running_html``.

    ``result`` went back to the model; ``ok`` False with ``summary`` the
    reason when the call was refused or failed; ``spoken`` is said once
    ("Calculator: 1024"), plain text quoting the model (escaped wherever it
    becomes HTML, like every text here but ``html`` and ``running_html``).
    ``duration_ms`` is None only for a ``resumed`` call stored stopped before
    it ended; a ``resumed`` result (a Continue's stored call, as
    ``ToolStartData``) changes no chip and is not said.
    """

    id: str
    chip: str
    name: str
    ok: bool
    summary: str
    result: str
    duration_ms: float | None
    text: str
    html: str
    running_html: str
    spoken: str
    resumed: NotRequired[bool]


class ToolCallState(TypedDict):
    """A call as a snapshot knows it: started, and finished once its result came."""

    chip: str
    id: str
    name: str
    arguments: dict[str, Any] | str
    ok: NotRequired[bool]
    result: NotRequired[str]
    error: NotRequired[str | None]
    duration_ms: NotRequired[float | None]


class ErrorData(TypedDict):
    """A stable code, what to tell the user, and whether (and when) Retry helps."""

    code: str
    message: str
    retryable: bool
    retry_after: float | None  # seconds from the failure, or None: Retry at once


class TitleData(TypedDict):
    """The title the model proposed for the conversation beside its first
    answer (``streaming/runs/titles.py``); the app saves it unless the
    conversation's owner has named it."""

    title: str


Metrics = dict[str, float | int | bool | None]  # streaming.runs.store.RunMetrics.as_dict


class FinalData(TypedDict):
    status: FinalStatus
    finish_reason: str  # the model's ("stop", "length"…), "time_limit", or ""
    error: ErrorData | None
    metrics: Metrics


EventData = (
    DeltaData
    | BlockData
    | TailData
    | ReplaceData
    | AnnounceData
    | ReasoningBlockData
    | ReasoningDoneData
    | StatusData
    | UsageData
    | ToolStartData
    | ToolResultData
    | ErrorData
    | TitleData
    | FinalData
)


class Emit(Protocol):
    """Append one event of a kind with that kind's payload; returns its offset."""

    @overload
    async def __call__(self, type: Literal[EventType.DELTA], data: DeltaData, /) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.BLOCK], data: BlockData, /) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.TAIL], data: TailData, /) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.REPLACE], data: ReplaceData, /) -> int: ...
    @overload
    async def __call__(
        self, type: Literal[EventType.ANNOUNCE, EventType.ANNOUNCE_DONE], data: AnnounceData, /
    ) -> int: ...
    @overload
    async def __call__(
        self, type: Literal[EventType.REASONING_DELTA], data: DeltaData, /
    ) -> int: ...
    @overload
    async def __call__(
        self, type: Literal[EventType.REASONING_BLOCK], data: ReasoningBlockData, /
    ) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.REASONING_TAIL], data: TailHtml, /) -> int: ...
    @overload
    async def __call__(
        self, type: Literal[EventType.REASONING_DONE], data: ReasoningDoneData, /
    ) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.STATUS], data: StatusData, /) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.USAGE], data: UsageData, /) -> int: ...
    @overload
    async def __call__(
        self, type: Literal[EventType.TOOL_START], data: ToolStartData, /
    ) -> int: ...
    @overload
    async def __call__(
        self, type: Literal[EventType.TOOL_RESULT], data: ToolResultData, /
    ) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.ERROR], data: ErrorData, /) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.TITLE], data: TitleData, /) -> int: ...
    @overload
    async def __call__(self, type: Literal[EventType.FINAL], data: FinalData, /) -> int: ...


@dataclass(frozen=True, slots=True)
class Event:
    offset: int
    type: EventType
    # The payload of ``type`` (its TypedDict above), as a log stores it.
    data: dict[str, Any]

    @property
    def is_final(self) -> bool:
        return self.type is EventType.FINAL
