"""Progress reporting: the interface between a running job and whoever watches it.

The cluster calls a :class:`ProgressCallback` with a :class:`Progress` snapshot whenever a
stage starts or a task of it finishes.  ``shards_done``/``shards_total`` count the current
stage's tasks (partition tasks in ``partition``, shards in ``validate`` and ``map``);
``rows_processed`` counts the claim lines the current stage has got through (it restarts with
each stage that has tasks), so ``rows_processed / stage_elapsed_seconds`` is its rate.  The
command line renders it as a progress bar; the API's runner stores it in the job store.
Callbacks must be quick and must not raise.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

__all__ = ["STAGES", "Progress", "ProgressCallback", "ProgressTracker"]

STAGES = ("plan", "partition", "validate", "map", "reduce", "settle", "write", "done")


@dataclass(frozen=True)
class Progress:
    """A snapshot of a job's progress."""

    stage: str
    shards_done: int = 0
    shards_total: int = 0
    rows_processed: int = 0
    retries: int = 0
    elapsed_seconds: float = 0.0
    stage_elapsed_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProgressCallback(Protocol):
    def __call__(self, progress: Progress) -> None: ...


@dataclass
class ProgressTracker:
    """Accumulates progress and forwards snapshots to an optional callback."""

    callback: ProgressCallback | None = None
    stage: str = "plan"
    shards_done: int = 0
    shards_total: int = 0
    rows_processed: int = 0
    retries: int = 0
    started: float = field(default=0.0)
    stage_started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.stage_started = time.monotonic()

    def snapshot(self) -> Progress:
        return Progress(
            stage=self.stage,
            shards_done=self.shards_done,
            shards_total=self.shards_total,
            rows_processed=self.rows_processed,
            retries=self.retries,
            elapsed_seconds=round(time.monotonic() - self.started, 3),
            stage_elapsed_seconds=round(time.monotonic() - self.stage_started, 3),
        )

    def emit(self) -> None:
        if self.callback is not None:
            # A watcher's failure must never fail the job.
            with contextlib.suppress(Exception):
                self.callback(self.snapshot())

    def enter(self, stage: str, *, shards_total: int | None = None) -> None:
        self.stage = stage
        self.stage_started = time.monotonic()
        if shards_total is not None:
            self.shards_total = shards_total
            self.shards_done = 0
            self.rows_processed = 0
        self.emit()

    def shard_done(self, rows: int) -> None:
        self.shards_done += 1
        self.rows_processed += rows
        self.emit()
