"""A run's status: the one vocabulary of an answer's life.

``pending -> streaming -> complete | stopped | failed | interrupted |
truncated``. The run (``streaming/runs/run.py``) ends in one of the final
statuses (``RunOutcome.status``, the ``final`` event's ``status``); the
database keeps it as ``Message.status`` (its choices are built from this
enum), and every wording of a status the user sees or hears comes from
``chatapp/status_text.py``. Plain ``str`` values: they compare equal to the
strings stored in rows, logs and JSON.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal


class RunStatus(StrEnum):
    PENDING = "pending"  # saved, no run has taken it yet
    STREAMING = "streaming"  # a run owns it and writes to it
    COMPLETE = "complete"
    STOPPED = "stopped"  # the user pressed Stop
    FAILED = "failed"  # the model server (or Spool) failed: see the error
    INTERRUPTED = "interrupted"  # nobody watched (grace), shutdown, or its process died
    TRUNCATED = "truncated"  # a budget or the model's length limit cut it

    @property
    def label(self) -> str:
        """The name the admin shows (the model's choices)."""
        return self.value.capitalize()


# The statuses of an answer still being written (or about to be).
LIVE_STATUSES: Final = frozenset({RunStatus.PENDING, RunStatus.STREAMING})

# How a run ends: the status of its ``final`` event and ``RunOutcome``.
FinalStatus = Literal[
    RunStatus.COMPLETE,
    RunStatus.STOPPED,
    RunStatus.FAILED,
    RunStatus.INTERRUPTED,
    RunStatus.TRUNCATED,
]
