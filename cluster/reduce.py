"""The driver's side of a sharded job: combining shard results and assembling output files.

* Counts: per table, ``read`` and ``accepted`` summed over shards and rejects by reason
  merged (in :class:`~settle.engine.rejects.RejectReason` order), then checked
  (``accepted + rejected = read``); the job counts have the keys of the in-process result.
* Pool bases and computed baselines: summed per contract x entity x group (x entity for
  baselines); exact integer sums, so the settlement is the one-shard settlement.
* Member-level outputs: written from the part files by :mod:`settle.cluster.member_outputs`.
* Settlement figures: :class:`MemberCostCells` reduces each partition's member costs to
  :class:`~settle.engine.pipeline.reduce.SettlementCells` one part at a time, as each shard's
  map task finishes, and adds them up, so the driver never holds member-level rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from settle.cluster.spill import read_spill, read_spill_schema
from settle.cluster.stages import MapResult, ValidateResult, part_path
from settle.engine.pipeline.reduce import SettlementCells, combine_cells, settlement_cells
from settle.engine.rejects import RejectReason, TableCounts

__all__ = [
    "MemberCostCells",
    "combine_counts",
    "combine_figures",
]

_SETTLE_COLUMNS = (
    "contract_id",
    "member_id",
    "group_id",
    "entity_id",
    "member_month_units",
    "truncated_cost_cents",
    "risk_score_micro",
    "risk_weighted_units",
    "baseline_risk_weighted_units",
)


def _ordered(reasons: Counter[str]) -> dict[str, int]:
    order = {r.value: i for i, r in enumerate(RejectReason)}
    return {k: reasons[k] for k in sorted(reasons, key=lambda k: (order.get(k, len(order)), k)) if reasons[k]}


def combine_counts(
    shards: Sequence[ValidateResult],
    maps: Sequence[MapResult],
    broadcast: dict[str, TableCounts],
    files: dict[str, int],
    statements: int,
    ledger_entries: int,
) -> dict[str, Any]:
    """The job's counts, with the keys of :func:`settle.engine.pipeline.run.assemble`."""
    tables: dict[str, Any] = {}
    for name, counts in broadcast.items():
        tables[name] = counts.to_dict()
    member_tables = sorted({t for s in shards for t in s.counts})
    for name in member_tables:
        read = sum(s.counts[name][0] for s in shards)
        accepted = sum(s.counts[name][1] for s in shards)
        reasons: Counter[str] = Counter()
        for s in shards:
            reasons.update(s.counts[name][2])
        merged = TableCounts(name, files=files.get(name, 0), read=read, accepted=accepted)
        merged.rejected_by_reason = _ordered(reasons)
        merged.check()
        tables[name] = merged.to_dict()
    return {
        "tables": tables,
        "claim_lines": sum(m.claim_lines for m in maps),
        "rejects_after_validation": sum(m.kernel_rejects for m in maps),
        "rejected_after_validation_paid_cents": sum(m.rejected_paid_cents for m in maps),
        "unused_claim_lines": sum(m.unused_lines for m in maps),
        "unused_claim_paid_cents": sum(m.unused_paid_cents for m in maps),
        "statements": statements,
        "ledger_entries": ledger_entries,
    }


def _sum_frames(parts: Sequence[pa.Table], keys: list[str], values: list[str]) -> pl.DataFrame:
    frames = []
    for part in parts:
        if part.num_rows and all(c in part.column_names for c in keys + values):
            frame = pl.from_arrow(part)
            assert isinstance(frame, pl.DataFrame)
            frames.append(frame.select(keys + values))
    if not frames:
        return pl.DataFrame()
    return (
        pl.concat(frames, how="vertical_relaxed")
        .group_by(keys)
        .agg(pl.col(v).sum().cast(pl.Int64) for v in values)
        .sort(keys, nulls_last=True)
    )


def combine_figures(maps: Sequence[MapResult]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pool bases per contract x entity x group, baselines per contract x entity)."""
    pools = _sum_frames(
        [m.pool_bases for m in maps], ["contract_id", "entity_id", "group_id"], ["base_cents", "cent_days"]
    )
    baselines = _sum_frames(
        [m.baselines for m in maps],
        ["contract_id", "entity_id"],
        ["baseline_cost_cents", "baseline_member_month_units"],
    )
    return pools, baselines


FOLD_ROWS = 2_000_000
"""Partitions' settlement cells are added into the running total once the parts waiting hold
more than this many rows: every partition holds members of most entity x group cells, so
keeping every part until the end grew the driver with partitions x cells (about a gigabyte at
5M members, 128 partitions), and adding every few parts re-aggregated the whole total each
time (a 10M book's 256 partitions: 32 folds of about 770,000 rows, most of the reduce
stage's 11.6 s; 64 parts of 39,000 cells of 460,000 took 1.82 s folded every 8 parts, 0.71 s
folded by this budget, 0.57 s not folded).  The waiting parts take about 100 bytes a row."""


class MemberCostCells:
    """The settlement figures of the partitions' member costs, reduced as the partitions
    become ready: the job adds a shard's partitions as soon as its map task has finished
    (:meth:`add`), so the driver reduces while the other shards are still being mapped instead
    of after the last one, with the workers idle (at 5M members the reduce stage took 2.6-2.7 s
    of a 95 s job); :meth:`result` adds the partitions not added yet.  Each partition is
    reduced on its own and added into a running total whenever the parts waiting exceed
    :data:`FOLD_ROWS` rows: exact integer sums, and a member belongs to one partition, so
    neither the order of adding nor the grouping changes the figures."""

    def __init__(self, work: Path, partitions: int) -> None:
        self.work = work
        self.partitions = partitions
        self._added: set[int] = set()
        self._pending: list[SettlementCells] = []
        self._waiting = 0

    def add(self, partitions: Iterable[int]) -> None:
        """Reduce the member costs of ``partitions`` (each once; a partition without a part
        file has no member costs)."""
        for p in partitions:
            if p in self._added:
                continue
            self._added.add(p)
            path = part_path(self.work, "member_costs", p)
            if not path.exists():
                continue
            names = read_spill_schema(path).names
            frame = pl.from_arrow(read_spill(path, columns=[c for c in _SETTLE_COLUMNS if c in names]))
            assert isinstance(frame, pl.DataFrame)
            part = settlement_cells(frame)
            self._pending.append(part)
            self._waiting += part.cells.height
            if self._waiting > FOLD_ROWS:
                self._pending = [combine_cells(self._pending)]
                self._waiting = 0

    def result(self) -> SettlementCells:
        """The cells of every partition (those not added yet are added now)."""
        self.add(range(self.partitions))
        return combine_cells(self._pending)
