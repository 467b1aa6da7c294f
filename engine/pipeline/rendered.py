"""Settlements rendered into their output rows, a batch at a time.

:func:`settle_batch` settles one :class:`~settle.engine.pipeline.reduce.SettlementBatch` and
renders it at once: its rows of ``statements.parquet`` and ``ledger.parquet``, its lines of
``statements.json`` and one row per statement for summaries.  Batches are independent, so the
cluster settles them in worker processes and writes what comes back in batch order; the
settlement objects never leave the process that made them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from settle.engine.contracts.benchmark_columns import BenchmarkInputs
from settle.engine.contracts.common import Settlement
from settle.engine.contracts.models import SharedSavingsContract
from settle.engine.contracts.shared_savings_columns import (
    SettlementUnit,
    settle_shared_savings_units,
)
from settle.engine.ledger import ledger_to_table
from settle.engine.pipeline.reduce import NO_QUALITY_RESULT, SettlementBatch, mean_score, member_months
from settle.engine.statement_render import render_batch, render_step_frame

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
    """Settle ``batch`` and render it (in the process that calls it): column-wise where the
    contract's kind has a column-wise settlement that covers the batch
    (:mod:`~settle.engine.contracts.shared_savings_columns`), else statement by statement."""
    columnar = _settle_in_columns(batch)
    return columnar if columnar is not None else render_settlements(list(batch.settle()))


def _settle_in_columns(batch: SettlementBatch) -> RenderedSettlements | None:
    contract = batch.plan.contract
    if not isinstance(contract, SharedSavingsContract):
        return None
    units = _units(batch)
    settled = None if units is None else settle_shared_savings_units(contract, units)
    if settled is None:
        return None
    steps, lines = render_step_frame(settled.heads, settled.steps.steps_frame())
    return RenderedSettlements(
        steps, settled.ledger, lines, statement_heads(steps), len(settled.heads), settled.entries
    )


def _units(batch: SettlementBatch) -> list[SettlementUnit] | None:
    """The batch's settlement units as ``SettlementBatch.settle`` makes them (``None`` where a
    cell lacks its member months, which that refuses)."""
    cells = batch.cells
    entity_ids = cells["entity_id"].to_list()
    group_ids = [str(g) for g in cells["group_id"].to_list()]
    months = cells["member_month_units"].to_list()
    if any(m is None for m in months):
        return None
    members = [m or 0 for m in cells["attributed_members"].to_list()]
    actual = [a or 0 for a in cells["actual_cents"].to_list()]
    # The risk sums (performance and baseline), read only where the contract risk-adjusts.
    risk = ("rw", "rmm", "brw", "brmm")
    adjust = batch.plan.contract.risk.adjust
    sums = (
        list(zip(*(_zeros(cells, c) for c in risk), strict=True)) if adjust else [(0, 0, 0, 0)] * cells.height
    )
    quality, baseline = batch.quality_of, batch.baseline_of

    def unit(entity_id: str, group_id: str | None, rows: list[int], members: int) -> SettlementUnit:
        q = quality.get(entity_id, NO_QUALITY_RESULT)
        if len(rows) == 1:  # a unit per cell (per-group settlement): nothing to add up
            rw, rmm, brw, brmm = sums[rows[0]]
            unit_months, unit_actual = int(months[rows[0]]), int(actual[rows[0]])
        else:
            rw, rmm, brw, brmm = (sum(sums[r][k] for r in rows) for k in range(4))
            unit_months, unit_actual = sum(int(months[r]) for r in rows), sum(int(actual[r]) for r in rows)
        inputs = BenchmarkInputs(
            member_months(unit_months),
            baseline.get(entity_id),
            mean_score(rw, rmm) if adjust else None,
            mean_score(brw, brmm) if adjust else None,
        )
        weights = (
            () if group_id is not None else tuple((group_ids[r], member_months(int(months[r]))) for r in rows)
        )
        return SettlementUnit(entity_id, group_id, members, unit_actual, q.score, q.met, inputs, weights)

    if batch.per_group:
        return [unit(e, group_ids[r], [r], int(members[r])) for r, e in enumerate(entity_ids)]
    runs = itertools.groupby(range(len(entity_ids)), key=lambda r: entity_ids[r])
    return [unit(e, None, list(rows), batch.members_of.get(e, 0)) for e, rows in runs]


def _zeros(cells: pl.DataFrame, column: str) -> list[int]:
    """``column``'s integers, nulls as 0 (``reduce._sum`` leaves nulls out)."""
    return [int(v) if v is not None else 0 for v in cells[column].to_list()]

