"""The core computation the references implement, its parameters and its result's shape.

The core computation (issue 8): member months per member x employer group, two-step
plurality attribution over the lookback year, per-member cost with run-out and a $125,000
truncation, aggregated per entity x employer group.  Its rules are those of
:data:`benchmarks.books.REFERENCE_CONTRACT`, spelled out in ``docs/performance.md``.

The result (:data:`RESULT_COLUMNS`) is one row per (entity, group), ``entity_id`` null for
the unattributed population, sorted by entity (nulls last) then group: the table the DuckDB
query, the Polars query and Settle's kernels must give identically.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from settle.engine.job import Period
from settle.engine.kernels.codes import shipped_primary_care_codes, shipped_specialties
from settle.engine.kernels.frames import add_months
from settle.engine.kernels.member_months import MEMBER_MONTH_UNITS

__all__ = ["RESULT_COLUMNS", "CoreParams", "normalise", "params_for"]

RESULT_COLUMNS = (
    "entity_id",
    "group_id",
    "attributed_members",
    "member_month_units",
    "raw_cost_cents",
    "truncated_cost_cents",
)


@dataclass(frozen=True)
class CoreParams:
    """Every constant of the core computation (dates inclusive, money in cents)."""

    start: dt.date
    end: dt.date
    cost_paid_cutoff: dt.date
    window_start: dt.date
    window_end: dt.date
    window_paid_cutoff: dt.date
    truncation_cents: int
    primary_care_codes: frozenset[str]
    primary_care_specialties: frozenset[str]
    specialist_specialties: frozenset[str]
    units_per_month: int = MEMBER_MONTH_UNITS


def params_for(period: Period, lookback_months: int = 12, truncation_cents: int = 12_500_000) -> CoreParams:
    """The parameters for ``period`` (prospective window of ``lookback_months``)."""
    roles = shipped_specialties()
    window_end = period.start - dt.timedelta(days=1)
    return CoreParams(
        start=period.start,
        end=period.end,
        cost_paid_cutoff=add_months(period.end, period.runout_months),
        window_start=add_months(period.start, -lookback_months),
        window_end=window_end,
        window_paid_cutoff=add_months(window_end, period.runout_months),
        truncation_cents=truncation_cents,
        primary_care_codes=shipped_primary_care_codes(),
        primary_care_specialties=roles["primary_care"],
        specialist_specialties=roles["specialist"],
    )


def normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """The result columns with fixed types, in the fixed order (for exact comparison)."""
    return frame.select(
        pl.col("entity_id").cast(pl.String),
        pl.col("group_id").cast(pl.String),
        *(pl.col(c).cast(pl.Int64) for c in RESULT_COLUMNS[2:]),
    ).sort(["entity_id", "group_id"], nulls_last=True)
