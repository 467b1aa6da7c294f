"""Pool funding bases: the payments a withhold or a bonus-pool prefund is taken from.

Rules (written down here because the domain text leaves the details open):

* Payments counted: medical claim lines whose service date (``claim_line_start_date``, else
  ``claim_start_date``) is in the contract's period and whose paid date is no later than
  period end + run-out, exactly the lines the cost kernel counts.  Each line is one payment
  of ``paid_cents`` on its ``paid_date``; a reversal is a negative payment on its own paid
  date, so it takes back its withhold (and its interest from that day on).
* The line belongs to the employer group whose span covers its service date (the cost
  kernel's rule); groups outside the contract's scope are left out.
* ``participating_providers``: per entity x group, payments on lines billed by the entity's
  roster on the service date (NPI+TIN row first, else a whole-TIN row; smallest entity id if
  several), the attribution kernel's matching rule.  Used by withholds and by bonus pools
  whose ``prefund_base`` is ``participating_providers``.
* ``attributed_claims``: per entity x group, payments on every line of members attributed to
  the entity under the contract.
* Interest cent-days: Σ paid_cents x days, days = (through - paid_date) counted from the day
  after the paid date through ``through`` inclusive, never negative.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from settle.engine.job import Period
from settle.engine.kernels.attribution import entity_matches, roster_lines, with_tin_from_billing_npi
from settle.engine.kernels.cost import assign_groups
from settle.engine.kernels.frames import Frame, add_months, column_names, lazy, service_date
from settle.engine.kernels.rules import Scope

__all__ = ["POOL_BASE_COLUMNS", "attributed_payments", "provider_payments"]

POOL_BASE_COLUMNS = ("entity_id", "group_id", "base_cents", "cent_days")


def _payments(claims: Frame, eligibility: Frame, period: Period, scope: Scope) -> pl.LazyFrame:
    names = column_names(claims)

    def opt(column: str) -> pl.Expr:
        return pl.col(column) if column in names else pl.lit(None, dtype=pl.String)

    cutoff = add_months(period.end, period.runout_months)
    lines = (
        lazy(claims)
        .select(
            "claim_id",
            "claim_line_number",
            "member_id",
            service_date(names).alias("service_date"),
            "paid_date",
            "paid_cents",
            pl.coalesce(opt("rendering_npi"), opt("billing_npi")).alias("npi"),
            pl.coalesce(opt("rendering_tin"), opt("billing_tin")).alias("tin"),
            opt("billing_npi").alias("billing_npi"),
        )
        .filter(pl.col("service_date").is_between(period.start, period.end) & (pl.col("paid_date") <= cutoff))
    )
    lines = assign_groups(lines, eligibility).filter(pl.col("group_id").is_not_null())
    if scope.groups is not None:
        lines = lines.filter(pl.col("group_id").is_in(sorted(scope.groups)))
    return lines


def _sum(lines: pl.LazyFrame, through: dt.date) -> pl.DataFrame:
    days = (pl.lit(through) - pl.col("paid_date")).dt.total_days().clip(lower_bound=0).cast(pl.Int64)
    return (
        lines.group_by("entity_id", "group_id")
        .agg(
            pl.col("paid_cents").sum().cast(pl.Int64).alias("base_cents"),
            (pl.col("paid_cents").cast(pl.Int64) * days).sum().cast(pl.Int64).alias("cent_days"),
        )
        .sort("entity_id", "group_id")
        .collect()
    )


def provider_payments(
    claims: Frame, eligibility: Frame, roster: Frame, period: Period, scope: Scope, through: dt.date
) -> pl.DataFrame:
    """Per entity x group: payments to the entity's participating providers, and cent-days."""
    lines = _payments(claims, eligibility, period, scope)
    entities = roster_lines(roster)
    if scope.entities is not None:
        entities = entities.filter(pl.col("entity_id").is_in(sorted(scope.entities)))
    lines = with_tin_from_billing_npi(lines, roster_lines(roster))
    matches = entity_matches(lines, entities)
    matched = lines.join(matches, on=["claim_id", "claim_line_number"], how="inner")
    return _sum(matched, through)


def attributed_payments(
    claims: Frame, eligibility: Frame, attribution: Frame, period: Period, scope: Scope, through: dt.date
) -> pl.DataFrame:
    """Per entity x group: payments on every line of the entity's attributed members."""
    lines = _payments(claims, eligibility, period, scope)
    members = lazy(attribution).filter(pl.col("entity_id").is_not_null()).select("member_id", "entity_id")
    return _sum(lines.join(members, on="member_id", how="inner"), through)
