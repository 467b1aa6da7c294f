"""The settle stage on Ray: batches of settlement units settled and rendered by tasks, their
rows handed back to the driver through the work folder.

Work folder layout::

    settled/b<batch>-steps.arrow     the batch's rows of statements.parquet
    settled/b<batch>-ledger.arrow    its rows of ledger.parquet
    settled/b<batch>-lines.json      its lines of statements.json

Why files and not Ray's object store: a table fetched from the object store is a view of Ray's
shared memory mapped into the driver, and every page of it the driver touched stayed in the
driver's resident set after the object was freed (the store keeps its arena mapped): at 5M
members the driver grew by 1.7 GB while settling, as much as the statements' rendered rows.
A spill file is mapped, written on, and unmapped when the driver drops it.  Each batch's files
are removed as soon as they are read; a retried task rewrites the same names.  They are always
written through the page cache, whichever way the job's other spill files go
(:mod:`~settle.cluster.direct_io`): the driver reads them within seconds, and written around
the cache they were read back from the disk a page fault at a time (0.18-0.24 GB in a 1M-member
job's settle stage, none since).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from settle.cluster.spill import SUFFIX, read_spill, write_spill
from settle.engine.errors import SettleSystemError
from settle.engine.pipeline.reduce import SettlementBatch
from settle.engine.pipeline.rendered import RenderedSettlements, settle_batch, statement_heads

__all__ = ["SettledBatch", "read_settled", "settle_stage"]


@dataclass(frozen=True)
class SettledBatch:
    """What a settle task returns: its batch number and counts (the rows are in files)."""

    index: int
    statements: int
    entries: int


def _paths(work: str, index: int) -> tuple[Path, Path, Path]:
    folder = Path(work) / "settled"
    stem = f"b{index:06d}"
    return folder / f"{stem}-steps{SUFFIX}", folder / f"{stem}-ledger{SUFFIX}", folder / f"{stem}-lines.json"


def settle_stage(work: str, index: int, batch: SettlementBatch) -> SettledBatch:
    """Settle and render batch ``index`` into the work folder (made by the driver; a task
    that finds it gone belongs to a job that has ended, and writes nothing)."""
    steps, ledger, lines = _paths(work, index)
    if not steps.parent.is_dir():
        raise SettleSystemError(f"the job's work folder {work} is gone; its settlement was abandoned")
    rendered = settle_batch(batch)
    # Read once, at once, by the driver on this machine: no compression.
    write_spill(rendered.steps, steps, None, direct=False)
    write_spill(rendered.ledger, ledger, None, direct=False)
    tmp = lines.with_name(f".{lines.name}.{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(rendered.json_lines, encoding="utf-8")
        os.replace(tmp, lines)
    finally:
        tmp.unlink(missing_ok=True)
    return SettledBatch(index, rendered.statements, rendered.entries)


def read_settled(work: str, settled: SettledBatch) -> RenderedSettlements:
    """A settled batch's rows, read back (memory-mapped) and its files removed; the heads are
    computed here (a copy, so the driver keeps nothing of the mapping)."""
    steps_path, ledger_path, lines_path = _paths(work, settled.index)
    steps, ledger = read_spill(steps_path), read_spill(ledger_path)
    lines = lines_path.read_text(encoding="utf-8")
    for path in (steps_path, ledger_path, lines_path):
        path.unlink()
    heads = statement_heads(steps)
    return RenderedSettlements(steps, ledger, lines, heads, settled.statements, settled.entries)
