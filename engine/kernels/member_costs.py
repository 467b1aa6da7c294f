"""Member costs: member months, attribution and claim costs joined, completed and truncated.

One row per member x employer group in scope (``entity_id`` from the member's attribution,
null when unattributed).  Per member, over all their groups at once (step 4, part 2):

1. ``R`` = the member's raw cost (sum of ``raw_cost_cents`` over their groups);
2. completion: ``C = round_half_even(R * completion_factor)`` in exact integer arithmetic
   (the factor as an exact fraction), rounded once per member;
3. truncation: ``T = min(C, threshold)`` where the threshold is the fixed amount, or the
   population percentile (below), or no cap;
4. ``C`` and ``T`` are split back across the member's groups in proportion to each group's
   raw cost (negative group costs weigh 0; all-zero weights split equally) by largest
   remainder, ties to the smaller ``group_id`` (:func:`~.allocation.allocate_by`), so the
   group parts add up to the member's figures exactly.  With factor 1 and no cap the parts
   equal the raw costs.

Percentile threshold (nearest rank, exact): sort the per-member completed totals ``C`` of
the contract's whole population (every member with a row, zero-cost members included)
ascending as ``x_1 <= ... <= x_N``; with the percentile as the exact decimal ``p``, the
threshold is ``x_k`` where ``k = max(1, ceil(p * N))``.  The population is not shard-local,
so truncation is two-phase: :func:`member_cost_totals` per shard, then
:func:`truncation_threshold` over all shards' totals, then :func:`member_costs` per shard with
that threshold.  A fixed amount needs no first phase.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from settle.engine.kernels.allocation import allocate_by
from settle.engine.kernels.frames import Frame, div_round_half_even, lazy
from settle.engine.kernels.rules import CostRules, Truncation

__all__ = ["MEMBER_COST_COLUMNS", "member_cost_totals", "member_costs", "truncation_threshold"]

MEMBER_COST_COLUMNS = (
    "member_id",
    "group_id",
    "entity_id",
    "member_days",
    "member_month_units",
    "raw_cost_cents",
    "completed_cost_cents",
    "truncated_cost_cents",
)
_KEYS = ["member_id", "group_id"]


def _cells(member_months: Frame, costs: Frame) -> pl.LazyFrame:
    """Member months full-joined with raw costs (missing side = 0), so no cost is lost."""
    mm = lazy(member_months)
    return mm.join(
        lazy(costs).select(*_KEYS, "raw_cost_cents"), on=_KEYS, how="full", coalesce=True
    ).with_columns(
        pl.col("member_days").fill_null(0).cast(pl.Int64),
        pl.col("member_month_units").fill_null(0).cast(pl.Int64),
        pl.col("raw_cost_cents").fill_null(0).cast(pl.Int64),
    )


def _completed(raw_total: pl.Expr, rules: CostRules) -> pl.Expr:
    numerator, denominator = rules.completion_factor.as_integer_ratio()
    if numerator == denominator:
        return raw_total.cast(pl.Int64)
    return div_round_half_even(raw_total * pl.lit(numerator, dtype=pl.Int128), pl.lit(denominator)).cast(
        pl.Int64
    )


def member_cost_totals(member_months: Frame, costs: Frame, rules: CostRules) -> pl.DataFrame:
    """Phase 1 (per shard): per member, ``completed_cost_cents`` (raw total x completion
    factor, rounded half-even once).  Every member with a member-month or cost row appears."""
    return (
        _cells(member_months, costs)
        .group_by("member_id")
        .agg(pl.col("raw_cost_cents").sum().alias("_raw"))
        .select("member_id", _completed(pl.col("_raw"), rules).alias("completed_cost_cents"))
        .sort("member_id")
        .collect()
    )


def truncation_threshold(truncation: Truncation | None, totals: Iterable[Frame]) -> int | None:
    """The per-member cap in cents: the fixed amount, or the nearest-rank percentile of the
    ``completed_cost_cents`` of all shards' :func:`member_cost_totals`.  ``None`` when the
    rules do not truncate; 0 for a percentile over an empty population (nobody to cap)."""
    if truncation is None:
        return None
    if truncation.amount_cents is not None:
        return truncation.amount_cents
    assert truncation.percentile is not None
    columns = [lazy(t).select("completed_cost_cents").collect().to_series().to_numpy() for t in totals]
    values = np.concatenate(columns) if columns else np.empty(0, dtype=np.int64)
    n = int(values.size)
    if n == 0:
        return 0
    a, b = truncation.percentile.as_integer_ratio()
    k = max(1, -(-a * n // b))
    return int(np.partition(values, k - 1)[k - 1])


def member_costs(
    member_months: Frame,
    costs: Frame,
    attribution: Frame,
    rules: CostRules,
    truncation_cents: int | None = None,
    stratifiers: Sequence[str] = (),
) -> pl.DataFrame:
    """Phase 2 (per shard): one row per member x group, :data:`MEMBER_COST_COLUMNS` then the
    ``stratifiers`` (carried from ``member_months``).

    ``truncation_cents`` is the cap from :func:`truncation_threshold`; it must be given when
    the rules truncate (a percentile cap cannot be computed from one shard)."""
    if rules.truncation is not None and truncation_cents is None:
        raise ValueError("member_costs: the rules truncate; pass truncation_cents (truncation_threshold)")
    cap = truncation_cents if rules.truncation is not None else None
    completed = _completed(pl.col("raw_cost_cents").sum().over("member_id"), rules)
    truncated = completed if cap is None else pl.min_horizontal(completed, pl.lit(cap, dtype=pl.Int64))
    cells = _cells(member_months, costs).with_columns(
        pl.max_horizontal(pl.col("raw_cost_cents"), pl.lit(0)).alias("_weight"),
        completed.alias("_completed"),
        truncated.alias("_truncated"),
    )
    split = allocate_by(
        cells,
        total="_completed",
        weight="_weight",
        by=["member_id"],
        order=["group_id"],
        out="completed_cost_cents",
    )
    split = allocate_by(
        split,
        total="_truncated",
        weight="_weight",
        by=["member_id"],
        order=["group_id"],
        out="truncated_cost_cents",
    )
    entity = lazy(attribution).select("member_id", "entity_id")
    return (
        split.join(entity, on="member_id", how="left")
        .select(*MEMBER_COST_COLUMNS, *stratifiers)
        .sort(_KEYS)
        .collect()
    )
