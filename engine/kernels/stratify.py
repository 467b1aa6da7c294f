"""Aggregates of member-cost rows: per contract x entity x employer group, per entity, and by
any stratifier column (the equity reports).

Columns of both levels: ``contract_id``, ``entity_id`` (null = the unattributed population),
[``group_id``], the ``by`` stratifiers, then

* ``attributed_members``: distinct members;
* ``member_month_units`` (see :mod:`.member_months`), ``member_days``;
* ``raw_cost_cents``, ``completed_cost_cents``, ``truncated_cost_cents`` (Int64);
* ``risk_weighted_units`` (decimal128(38, 0): sum of risk micro-units x member-month units,
  exact) and ``risk_member_month_units`` (member-month units of scored members), present
  when the rows carry risk (:func:`~.risk.with_risk`); entity risk is their ratio
  (:func:`~.risk.weighted_risk`).

Every additive column of the cells sums over groups to the entity row exactly (checked by
:func:`check_aggregates`).  ``attributed_members`` is the exception, by definition: a member
enrolled with two groups is one member of each cell but one member of the entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from settle.engine.errors import InvariantViolation
from settle.engine.kernels.frames import Frame, column_names, lazy

__all__ = ["ADDITIVE_COLUMNS", "Aggregates", "aggregate", "check_aggregates", "stratify"]

ADDITIVE_COLUMNS = (
    "member_days",
    "member_month_units",
    "raw_cost_cents",
    "completed_cost_cents",
    "truncated_cost_cents",
    "risk_weighted_units",
    "risk_member_month_units",
)


@dataclass(frozen=True)
class Aggregates:
    """``cells``: contract x entity x group (x stratifiers); ``entities``: contract x entity
    (x stratifiers)."""

    cells: pl.DataFrame
    entities: pl.DataFrame


def _sums(has_risk: bool) -> list[pl.Expr]:
    exprs = [
        pl.col("member_id").n_unique().cast(pl.Int64).alias("attributed_members"),
        pl.col("member_days").sum(),
        pl.col("member_month_units").sum(),
        pl.col("raw_cost_cents").sum(),
        pl.col("completed_cost_cents").sum(),
        pl.col("truncated_cost_cents").sum(),
    ]
    if has_risk:
        exprs += [
            pl.col("risk_weighted_units").cast(pl.Int128).sum().cast(pl.Decimal(38, 0)),
            pl.col("member_month_units")
            .filter(pl.col("risk_score_micro").is_not_null())
            .sum()
            .alias("risk_member_month_units"),
        ]
    return exprs


def aggregate(member_costs: Frame, contract_id: str, by: Sequence[str] = ()) -> Aggregates:
    """Per contract x entity x group and per contract x entity, optionally by stratifiers."""
    has_risk = "risk_weighted_units" in column_names(member_costs)
    lf = lazy(member_costs)
    levels = []
    for keys in (["entity_id", "group_id", *by], ["entity_id", *by]):
        levels.append(
            lf.group_by(keys)
            .agg(_sums(has_risk))
            .with_columns(pl.lit(contract_id).alias("contract_id"))
            .select("contract_id", *keys, pl.exclude("contract_id", *keys))
            .sort(keys, nulls_last=True)
            .collect()
        )
    return Aggregates(cells=levels[0], entities=levels[1])


def stratify(member_costs: Frame, contract_id: str, stratifiers: Sequence[str]) -> Aggregates:
    """:func:`aggregate` by the given stratifier columns (e.g. ``dual_status_code``)."""
    return aggregate(member_costs, contract_id, by=stratifiers)


def check_aggregates(aggregates: Aggregates, by: Sequence[str] = ()) -> None:
    """Assert that the cells' additive columns sum to the entity rows; raise
    :class:`InvariantViolation` (a bug) when they do not."""
    keys = ["entity_id", *by]
    columns = [c for c in ADDITIVE_COLUMNS if c in aggregates.cells.columns]
    summed = aggregates.cells.group_by(keys).agg(pl.col(c).sum() for c in columns)
    joined = aggregates.entities.join(summed, on=keys, how="full", nulls_equal=True, suffix="_cells")
    for c in columns:
        if joined.filter(pl.col(c).ne_missing(pl.col(f"{c}_cells"))).height:
            raise InvariantViolation(f"aggregates: the cells' {c} do not add up to the entity totals")
