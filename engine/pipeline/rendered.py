"""Settlements rendered into their output rows, a batch at a time.

:func:`settle_batch` settles one :class:`~settle.engine.pipeline.reduce.SettlementBatch` and
renders it at once: its rows of ``statements.parquet`` and ``ledger.parquet``, its lines of
``statements.json`` and one row per statement for summaries.  Batches are independent, so the
cluster settles them in worker processes and writes what comes back in batch order; the
settlement objects never leave the process that made them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from settle.engine.contracts.common import Settlement
from settle.engine.ledger import ledger_to_table
from settle.engine.pipeline.reduce import SettlementBatch
from settle.engine.statement_render import render_batch

__all__ = ["HEAD_COLUMNS", "RenderedSettlements", "render_settlements", "settle_batch", "statement_heads"]

HEAD_COLUMNS = ("contract_id", "entity_id", "amount_cents")


@dataclass(frozen=True)
class RenderedSettlements:
    """A batch of settlements as output rows.  ``json_lines``: the statements' JSON, one per
    line, joined by ``",\\n"`` (framed by :func:`~settle.engine.statement_render.json_array`)."""

    steps: pa.Table
    ledger: pa.Table
    json_lines: str
    heads: pa.Table
    statements: int
    entries: int


def statement_heads(steps: pa.Table) -> pa.Table:
    """One row per statement of a statements table (one row per step): the first step's
    :data:`HEAD_COLUMNS` (every step repeats its statement's contract, entity and amount)."""
    return steps.filter(pc.equal(steps["step_number"], 1)).select(list(HEAD_COLUMNS))


def render_settlements(settlements: Sequence[Settlement]) -> RenderedSettlements:
    """``settlements`` (in order) as output rows."""
    steps, lines = render_batch([s.statement for s in settlements])
    entries = [e for s in settlements for e in s.entries]
    return RenderedSettlements(
        steps, ledger_to_table(entries), lines, statement_heads(steps), len(settlements), len(entries)
    )


def settle_batch(batch: SettlementBatch) -> RenderedSettlements:
    """Settle ``batch`` and render it (in the process that calls it)."""
    return render_settlements(list(batch.settle()))
