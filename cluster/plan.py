"""The plan of a sharded job: partitions, shards, and the tasks of the partition stage.

* ``partitions`` (``P``): see :mod:`settle.cluster.partitioning` (a function of input size).
* Shards are contiguous ranges of partitions.  The shard count is ``--shards N`` when given,
  else :func:`default_shards`: ``ceil(claim lines / SHARD_LINES)``, which at the defaults is
  ``P`` itself (one partition a shard, at most 2 M claim lines); never more than ``P``.  After
  the partition stage the ranges are packed on the partitions' real claim-line counts so that each shard holds
  about ``lines / shards`` lines (:func:`pack`); before it (one shard) there is nothing to pack.
* The partition stage is skipped when the job has a single shard: that shard reads the input
  files directly.  Otherwise every member-keyed table is partitioned, because no input layout
  is partitioned by the member hash (a by-group book is not: members move between groups).
* Partition-stage tasks: the files of each member-keyed table, in sorted order, grouped into
  consecutive runs of about :func:`task_bytes` (:data:`TASK_BYTES`, more for a table of more
  than :data:`TABLE_TASKS` times that), so a book of many small files does not become
  thousands of tasks; a Parquet file bigger than that is cut into consecutive runs of its row
  groups, so one big file of a paid-date feed is spread over every core (a CSV file is always
  one task).

The plan is recorded in the manifest (:meth:`JobPlan.as_dict`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from settle.engine.readers import InputFile

__all__ = [
    "MEMBER_TABLES",
    "SHARD_LINES",
    "TABLE_TASKS",
    "TASK_BYTES",
    "InputTask",
    "JobPlan",
    "default_shards",
    "input_tasks",
    "largest_first",
    "pack",
    "task_bytes",
]

MEMBER_TABLES = ("eligibility", "medical_claim", "pharmacy_claim", "risk_scores", "voluntary_alignment")
# Measured on the 1M-member book (28.2 M lines, warm, 2 cores): 8 shards of ~3.5 M lines 65.5 s,
# 16 shards of ~1.8 M lines 51.4 s, 32 shards of ~0.9 M lines 53.9 s; smaller shards also
# lower each worker's peak memory.
SHARD_LINES = 2_000_000
TASK_BYTES = 64 << 20
TABLE_TASKS = 32


@dataclass(frozen=True)
class InputTask:
    """One task of the partition stage: consecutive files of one table, or the row groups
    ``[start, stop)`` of one Parquet file."""

    table: str
    index: int
    files: tuple[InputFile, ...]
    row_groups: tuple[int, int] | None = None
    size: int = 0  # estimated bytes of input it reads (for the order tasks are submitted in)


@dataclass
class JobPlan:
    """Partitions, shards (``[start, stop)`` ranges of partitions) and their claim lines."""

    partitions: int
    shards: list[tuple[int, int]]
    partition_stage: bool
    estimated_lines: int
    shard_lines: list[int] = field(default_factory=list)
    partition_tasks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "partitions": self.partitions,
            "shards": len(self.shards),
            "shard_partitions": [list(s) for s in self.shards],
            "shard_claim_lines": list(self.shard_lines),
            "partition_stage": self.partition_stage,
            "partition_tasks": self.partition_tasks,
            "estimated_claim_lines": self.estimated_lines,
        }


def default_shards(lines: int, shard_lines: int = SHARD_LINES) -> int:
    """``ceil(lines / shard_lines)``, at least 1: at the default sizes the partition count,
    so each shard is one partition."""
    return max(1, -(-max(lines, 0) // max(shard_lines, 1)))


def pack(lines: Sequence[int], shards: int) -> list[tuple[int, int]]:
    """Cut partitions ``0..len(lines)`` into ``shards`` contiguous, non-empty ranges, each
    ending at the first partition where the running total reaches ``k / shards`` of all lines
    (a shard always has at least one partition; no more shards than partitions)."""
    n = len(lines)
    shards = max(1, min(shards, n))
    total = sum(lines)
    cuts: list[int] = []
    running = 0
    k = 1
    for i, count in enumerate(lines):
        running += count
        left = n - (i + 1)  # partitions after this one
        need = shards - k  # shards still to open after the current one
        if k < shards and (running * shards >= total * k or left == need) and left >= need:
            cuts.append(i + 1)
            k += 1
    bounds = [0, *cuts, n]
    return [(bounds[j], bounds[j + 1]) for j in range(len(bounds) - 1)]


def task_bytes(table_bytes: int, least: int | None = None, tasks: int | None = None) -> int:
    """Input bytes per partition-stage task for a table of ``table_bytes``: ``least`` (default
    :data:`TASK_BYTES`), or ``table_bytes / tasks`` (default :data:`TABLE_TASKS`) when that is
    more, so that a table is cut into about ``tasks`` tasks however big it grows.

    Why a cap on the count: every partition task writes its rows as piece files with a record
    batch per partition, and a validate task reads its partition's batch of every piece.  With
    a fixed task size the pieces of a partition grow with the book as the partitions do, so the
    batches grow with the square of it (a 10M-member book: 141 tasks x 141 partitions, about
    14,000 claim lines a batch, against 14 x 15 and 134,000 at 1M), and each batch costs a
    fixed amount to write, open, cut and join.  Bigger tasks leave a partition a bounded
    number of batches, down to one per :data:`~settle.cluster.partition_stage.PIECE_BUFFER_BYTES` of
    rows a task holds."""
    least = TASK_BYTES if least is None else least
    tasks = TABLE_TASKS if tasks is None else tasks
    return max(least, -(-max(table_bytes, 0) // max(tasks, 1)))


def input_tasks(
    table: str,
    files: Sequence[InputFile],
    sizes: Sequence[int],
    first: int = 0,
    row_groups: Callable[[InputFile], Sequence[tuple[int, int]]] | None = None,
    task_bytes: int = TASK_BYTES,
) -> list[InputTask]:
    """Group a table's sorted files into partition-stage tasks of about ``task_bytes``.

    ``row_groups(file)`` gives (rows, bytes) per row group of a Parquet file; it is asked only
    for files bigger than ``task_bytes``, which are cut into runs of row groups."""
    tasks: list[InputTask] = []
    run: list[InputFile] = []
    run_bytes = 0

    def add(files: tuple[InputFile, ...], size: int, groups: tuple[int, int] | None = None) -> None:
        tasks.append(InputTask(table, first + len(tasks), files, groups, size))

    for f, size in zip(files, sizes, strict=True):
        if size > task_bytes and f.format == "parquet" and row_groups is not None:
            if run:
                add(tuple(run), run_bytes)
                run, run_bytes = [], 0
            group_bytes = [b for _, b in row_groups(f)]
            scale = size / max(sum(group_bytes), 1)
            for span in _row_group_runs(group_bytes, task_bytes * 2 // 3, size):
                add((f,), round(sum(group_bytes[span[0] : span[1]]) * scale), span)
            continue
        if run and run_bytes + size > task_bytes:
            add(tuple(run), run_bytes)
            run, run_bytes = [], 0
        run.append(f)
        run_bytes += size
    if run:
        add(tuple(run), run_bytes)
    return tasks


def largest_first(tasks: Sequence[InputTask]) -> list[InputTask]:
    """``tasks`` in the order to submit them: the largest first (ties in their own order), so
    that the stage does not end with one big task running alone while the other workers idle.
    The order changes nothing in the outputs: every task's pieces are named by its index."""
    return sorted(tasks, key=lambda t: -t.size)


def _row_group_runs(group_bytes: Sequence[int], task_bytes: int, file_bytes: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, stop)`` runs of row groups of about ``task_bytes`` of the file each
    (row-group sizes are uncompressed; they are scaled to the file's size)."""
    total = sum(group_bytes)
    if not group_bytes or total <= 0:
        return [(0, len(group_bytes))]
    scale = file_bytes / total
    runs: list[tuple[int, int]] = []
    start, acc = 0, 0.0
    for i, b in enumerate(group_bytes):
        if i > start and acc + b * scale > task_bytes:
            runs.append((start, i))
            start, acc = i, 0.0
        acc += b * scale
    runs.append((start, len(group_bytes)))
    return runs
