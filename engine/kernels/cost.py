"""Claim costs per member x employer group, and the lines no enrollment covers (step 4, part 1).

Rules, in order:

1. A medical line's service date is ``claim_line_start_date`` where present, else
   ``claim_start_date``; a pharmacy fill's is ``dispensing_date`` (pharmacy only when
   ``include_pharmacy``).  A line counts if its service date is in the period and its paid
   date is no later than period end + ``runout_months`` (calendar months, clamped to the
   month's last day).
2. Each such line is assigned to the employer group whose enrollment span covers its service
   date.  Spans of a member x group are merged first (overlapping or adjacent).  If spans of
   several groups cover the date (our rule; the domain text is silent) the line goes to the
   group whose merged span started last, then to the smallest ``group_id``.
3. A line no span of its member covers (any group, in scope or not) is returned as a reject
   ``service_outside_enrollment`` (``column`` names the date column used, ``value`` the date)
   and its ``paid_cents`` are totalled.  Rejects do not depend on the contract's scope, so
   contracts that share a period report the same rows: a job keeps one copy of each
   (table, source_file, row_number, reason).
4. Lines of groups outside the scope are dropped (they belong to other contracts); medical
   lines whose ``hcpcs_code`` is in ``exclude_hcpcs`` are dropped.
5. ``raw_cost_cents`` = sum of ``allowed_cents`` (basis ``allowed``) or ``paid_cents``
   (``paid``) per member x group.  Reversals are further lines of the same claim line with
   negative amounts, so summing nets them per (claim_id, claim_line_number) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from settle.engine.job import Period
from settle.engine.kernels.frames import Frame, add_months, column_names, lazy, service_date
from settle.engine.kernels.member_months import merge_spans
from settle.engine.kernels.rules import CostBasis, CostRules, Scope
from settle.engine.rejects import REJECTS_SCHEMA, RejectReason

__all__ = ["REJECT_COLUMNS", "ClaimCosts", "assign_groups", "claim_costs"]

REJECT_COLUMNS = tuple(REJECTS_SCHEMA.names)

_LINE_COLUMNS = [
    "table",
    "member_id",
    "service_date",
    "date_column",
    "paid_cents",
    "amount_cents",
    "hcpcs_code",
    "_source_file",
    "_row_number",
]


@dataclass(frozen=True)
class ClaimCosts:
    """The cost kernel's result for one shard.

    ``costs``: member_id, group_id, raw_cost_cents (Int64), one row per member x group in
    scope with a counted line.  ``rejects``: a table in :data:`settle.engine.rejects.REJECTS_SCHEMA`.
    ``rejected_lines`` / ``rejected_paid_cents``: their count and paid total."""

    costs: pl.DataFrame
    rejects: pa.Table
    rejected_lines: int
    rejected_paid_cents: int


def _medical_lines(claims: Frame, basis: CostBasis) -> pl.LazyFrame:
    names = column_names(claims)
    date = service_date(names)
    if "claim_line_start_date" in names:
        date_column = (
            pl.when(pl.col("claim_line_start_date").is_not_null())
            .then(pl.lit("claim_line_start_date"))
            .otherwise(pl.lit("claim_start_date"))
        )
    else:
        date_column = pl.lit("claim_start_date")
    return lazy(claims).select(
        pl.lit("medical_claim").alias("table"),
        "member_id",
        date.alias("service_date"),
        date_column.alias("date_column"),
        "paid_date",
        "paid_cents",
        pl.col(f"{basis.value}_cents").alias("amount_cents"),
        (pl.col("hcpcs_code") if "hcpcs_code" in names else pl.lit(None, dtype=pl.String)).alias(
            "hcpcs_code"
        ),
        "_source_file",
        "_row_number",
    )


def _pharmacy_lines(claims: Frame, basis: CostBasis) -> pl.LazyFrame:
    return lazy(claims).select(
        pl.lit("pharmacy_claim").alias("table"),
        "member_id",
        pl.col("dispensing_date").alias("service_date"),
        pl.lit("dispensing_date").alias("date_column"),
        "paid_date",
        "paid_cents",
        pl.col(f"{basis.value}_cents").alias("amount_cents"),
        pl.lit(None, dtype=pl.String).alias("hcpcs_code"),
        "_source_file",
        "_row_number",
    )


def _covering_groups(days: pl.LazyFrame, eligibility: Frame, carry: tuple[str, ...] = ()) -> pl.DataFrame:
    """For distinct (member_id, service_date) rows: the covering group (rows that no span
    covers are left out).  ``carry`` columns ride along.  A member with one merged span in all
    needs no choice; only members with several spans go through the per-day pick."""
    start, end = pl.col("enrollment_start_date"), pl.col("enrollment_end_date")
    spans = merge_spans(lazy(eligibility).select("member_id", "group_id", start, end)).with_columns(
        pl.len().over("member_id").alias("_spans")
    )
    keep = ["member_id", "service_date", "group_id", *carry]
    candidates = (
        days.join(spans, on="member_id", how="inner")
        .filter(pl.col("service_date").is_between(start, end))
        .collect()
    )
    single = candidates.lazy().filter(pl.col("_spans") == 1).select(keep)
    several = (
        candidates.lazy()
        .filter(pl.col("_spans") > 1)
        .group_by("member_id", "service_date")
        .agg(
            pl.col("group_id").sort_by([start, pl.col("group_id")], descending=[True, False]).first(),
            *(pl.col(c).first() for c in carry),
        )
        .select(keep)
    )
    return pl.concat([single, several]).collect()


def assign_groups(lines: pl.LazyFrame, eligibility: Frame) -> pl.LazyFrame:
    """Add ``group_id`` to lines with ``member_id`` and ``service_date`` (null where no span
    covers the date).  Matching is done once per distinct (member, date)."""
    days = lines.select("member_id", "service_date").unique()
    return lines.join(
        _covering_groups(days, eligibility).lazy(), on=["member_id", "service_date"], how="left"
    )


def claim_costs(
    medical_claim: Frame,
    eligibility: Frame,
    period: Period,
    rules: CostRules | None = None,
    scope: Scope | None = None,
    pharmacy_claim: Frame | None = None,
) -> ClaimCosts:
    """Raw cost per member x group in scope, and the lines outside enrollment (see module).

    Lines are first summed per (member, service date), the grain at which the group is
    decided, so the span matching runs once per member-day, not per line."""
    rules = rules or CostRules()
    scope = scope or Scope()
    parts = [_medical_lines(medical_claim, rules.basis)]
    if rules.include_pharmacy and pharmacy_claim is not None:
        parts.append(_pharmacy_lines(pharmacy_claim, rules.basis))
    cutoff = add_months(period.end, period.runout_months)
    lines = (
        pl.concat(parts)
        .filter(pl.col("service_date").is_between(period.start, period.end) & (pl.col("paid_date") <= cutoff))
        .select(_LINE_COLUMNS)
        .collect()  # read once: the per-day sums and the rejects both use the lines
    )
    amount = pl.col("amount_cents")
    if rules.exclude_hcpcs:
        excluded = pl.col("hcpcs_code").is_in(sorted(rules.exclude_hcpcs)).fill_null(False)
        amount = pl.when(excluded).then(pl.lit(0, dtype=pl.Int64)).otherwise(amount)
    # Polars' streaming engine sums the per-day groups about twice as fast as the in-memory one
    # (a 1.4 M-line shard: 0.047 s against 0.104 s), and faster still without a filter inside
    # the aggregation (an excluded line adds zero instead).
    days = (
        lines.lazy()
        .group_by("member_id", "service_date")
        .agg(amount.sum().cast(pl.Int64).alias("amount_cents"))
        .collect(engine="streaming")
    )
    covered = _covering_groups(days.lazy(), eligibility, carry=("amount_cents",))
    counted = covered.lazy()
    if scope.groups is not None:
        counted = counted.filter(pl.col("group_id").is_in(sorted(scope.groups)))
    costs = (
        counted.group_by("member_id", "group_id")
        .agg(pl.col("amount_cents").sum().cast(pl.Int64).alias("raw_cost_cents"))
        .sort("member_id", "group_id")
        .collect()
    )
    keys = ["member_id", "service_date"]
    outside = lines.clear()
    if covered.height < days.height:  # some member-days have no covering span: find their lines
        uncovered = days.select(keys).join(covered.select(keys), on=keys, how="anti")
        outside = lines.join(uncovered, on=keys, how="semi")
    return ClaimCosts(
        costs=costs,
        rejects=_rejects(outside),
        rejected_lines=outside.height,
        rejected_paid_cents=int(outside["paid_cents"].sum()),
    )


def _rejects(outside: pl.DataFrame) -> pa.Table:
    frame = outside.sort("table", "_source_file", "_row_number").select(
        pl.col("table"),
        pl.col("_source_file").cast(pl.String).alias("source_file"),
        pl.col("_row_number").cast(pl.Int64).alias("row_number"),
        pl.col("date_column").alias("column"),
        pl.lit(RejectReason.SERVICE_OUTSIDE_ENROLLMENT.value).alias("reason"),
        pl.lit("service date is outside every enrollment span of the member").alias("detail"),
        pl.col("service_date").cast(pl.String).alias("value"),
    )
    return frame.to_arrow().cast(REJECTS_SCHEMA)
