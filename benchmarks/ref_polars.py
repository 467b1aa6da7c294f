"""The core computation as ONE Polars lazy query, collected with the streaming engine.

Same rules and steps as :mod:`benchmarks.ref_duckdb` (see its docstring), written with Polars
expressions over ``scan_parquet`` of the book's source files; a single
``collect(engine="streaming")`` runs it.  Money: ``decimal(12, 2)`` dollars x 100 cast to
``Int64`` cents (exact); the largest-remainder split uses ``Int128``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from benchmarks.core import CoreParams, normalise

__all__ = ["polars_query", "polars_reference"]

_LINE = ["claim_id", "claim_line_number"]
_MG = ["member_id", "group_id"]


def _covers(day: pl.Expr) -> pl.Expr:
    return (pl.col("effective_date") <= day) & (
        pl.col("termination_date").is_null() | (day <= pl.col("termination_date"))
    )


def _winners(claims: pl.LazyFrame, elig: pl.LazyFrame, roster: pl.LazyFrame, p: CoreParams) -> pl.LazyFrame:
    """member_id -> entity_id (null when a TIN won) for members with a qualifying line."""
    population = elig.filter((pl.col("st") <= p.end) & (pl.col("en") >= p.start)).select("member_id").unique()
    original = pl.col("allowed_cents") >= 0
    lines = (
        claims.filter(
            pl.col("service_date").is_between(p.window_start, p.window_end)
            & (pl.col("paid_date") <= p.window_paid_cutoff)
            & pl.col("hcpcs_code").is_in(sorted(p.primary_care_codes))
        )
        .join(population, on="member_id", how="semi")
        .group_by(_LINE)
        .agg(
            pl.col("allowed_cents").sum(),
            (pl.col("allowed_cents") < 0).any().alias("reversed"),
            *(pl.col(c).filter(original).min() for c in ("member_id", "service_date", "npi", "tin")),
        )
        .filter(~(pl.col("reversed") & (pl.col("allowed_cents") <= 0)))
    )
    by_npi = lines.join(roster.filter(pl.col("npi").is_not_null()), on=["npi", "tin"]).with_columns(
        prec=pl.lit(0)
    )
    by_tin = lines.join(roster.filter(pl.col("npi").is_null()).drop("npi"), on="tin").with_columns(
        prec=pl.lit(1)
    )
    cols = [*_LINE, "entity_id", "specialty_code", "prec"]
    best = (
        pl.concat(
            [
                by_npi.filter(_covers(pl.col("service_date"))).select(cols),
                by_tin.filter(_covers(pl.col("service_date"))).select(cols),
            ]
        )
        .group_by(_LINE)
        .agg(
            pl.col("entity_id").sort_by(["prec", "entity_id"]).first(),
            pl.col("specialty_code").sort_by(["prec", "entity_id"]).first().alias("spec"),
        )
    )
    npi_spec = (
        roster.filter(pl.col("npi").is_not_null() & pl.col("specialty_code").is_not_null())
        .group_by("npi")
        .agg(
            pl.col("specialty_code")
            .sort_by(["effective_date", "specialty_code"], descending=[True, False])
            .first()
            .alias("npi_spec")
        )
    )
    spec = pl.coalesce(pl.col("spec"), pl.col("npi_spec"))
    step = (
        pl.when(spec.is_null() | spec.is_in(sorted(p.primary_care_specialties)))
        .then(1)
        .when(spec.is_in(sorted(p.specialist_specialties)))
        .then(2)
    )
    competitor = pl.coalesce(
        pl.col("entity_id"), pl.lit("tin:") + pl.col("tin"), pl.lit("npi:") + pl.col("npi"), pl.lit("unknown")
    )
    totals = (
        lines.join(best, on=_LINE, how="left")
        .join(npi_spec, on="npi", how="left")
        .select(
            "member_id",
            "service_date",
            "allowed_cents",
            competitor.alias("competitor"),
            pl.col("entity_id").is_not_null().alias("is_entity"),
            step.alias("step"),
        )
        .filter(pl.col("step").is_not_null())
        .filter(pl.col("step") == pl.col("step").min().over("member_id"))
        .group_by("member_id", "competitor")
        .agg(
            pl.col("is_entity").any(),
            pl.col("allowed_cents").sum().alias("amount"),
            pl.col("service_date").max().alias("last_date"),
        )
    )
    order = ["amount", "last_date", "is_entity", "competitor"]
    return totals.group_by("member_id").agg(
        pl.when(pl.col("is_entity"))
        .then(pl.col("competitor"))
        .sort_by(order, descending=[True, True, False, False])
        .first()
        .alias("entity_id")
    )


def _member_months(elig: pl.LazyFrame, p: CoreParams) -> pl.LazyFrame:
    st = pl.max_horizontal(pl.col("st"), pl.lit(p.start))
    en = pl.min_horizontal(pl.col("en"), pl.lit(p.end))
    return (
        elig.filter((pl.col("st") <= p.end) & (pl.col("en") >= p.start))
        .select(
            *_MG,
            pl.int_ranges(st.dt.year() * 12 + st.dt.month(), en.dt.year() * 12 + en.dt.month() + 1).alias(
                "m"
            ),
        )
        .explode("m")
        .unique()
        .group_by(_MG)
        .agg((pl.len().cast(pl.Int64) * p.units_per_month).alias("member_month_units"))
    )


def _costs(claims: pl.LazyFrame, elig: pl.LazyFrame, p: CoreParams) -> pl.LazyFrame:
    prior = pl.col("en").cast(pl.Int32).cum_max().shift(1).over(_MG)
    spans = (
        elig.sort([*_MG, "st", "en"])
        .with_columns((prior.is_null() | (pl.col("st").cast(pl.Int32) > prior + 1)).alias("opens"))
        .with_columns(pl.col("opens").cum_sum().alias("span"))
        .group_by([*_MG, "span"])
        .agg(pl.col("st").min(), pl.col("en").max())
    )
    days = (
        claims.filter(
            pl.col("service_date").is_between(p.start, p.end) & (pl.col("paid_date") <= p.cost_paid_cutoff)
        )
        .group_by("member_id", "service_date")
        .agg(pl.col("allowed_cents").sum().alias("cents"))
    )
    return (
        days.join(spans, on="member_id")
        .filter(pl.col("service_date").is_between(pl.col("st"), pl.col("en")))
        .group_by("member_id", "service_date")
        .agg(
            pl.col("cents").first(),
            pl.col("group_id").sort_by(["st", "group_id"], descending=[True, False]).first(),
        )
        .group_by(_MG)
        .agg(pl.col("cents").sum().alias("raw"))
    )


def _truncated(cells: pl.LazyFrame, cap: int) -> pl.LazyFrame:
    """Each member's total capped and split back over groups by largest remainder."""
    member = "member_id"
    total = pl.min_horizontal(pl.col("raw").sum().over(member), pl.lit(cap, dtype=pl.Int64))
    wsum = pl.max_horizontal(pl.col("raw"), pl.lit(0)).sum().over(member)
    shares = cells.with_columns(
        total.abs().cast(pl.Int128).alias("t"),
        pl.when(total < 0).then(-1).otherwise(1).alias("sgn"),
        pl.when(wsum == 0)
        .then(1)
        .otherwise(pl.max_horizontal(pl.col("raw"), pl.lit(0)))
        .cast(pl.Int128)
        .alias("w"),
        pl.when(wsum == 0).then(pl.len().over(member)).otherwise(wsum).cast(pl.Int128).alias("d"),
    ).with_columns(
        (pl.col("t") * pl.col("w") // pl.col("d")).alias("fl"),
        (pl.col("t") * pl.col("w") % pl.col("d")).cast(pl.Int64).alias("rem"),  # rem < d: fits
    )
    rank = pl.struct(rem=-pl.col("rem"), group=pl.col("group_id")).rank("ordinal").over(member) - 1
    left = pl.col("t") - pl.col("fl").sum().over(member)
    return shares.with_columns(
        ((pl.col("fl") + (rank.cast(pl.Int128) < left).cast(pl.Int128)) * pl.col("sgn"))
        .cast(pl.Int64)
        .alias("truncated")
    )


def polars_query(
    params: CoreParams, eligibility: Sequence[Path], medical_claim: Sequence[Path], roster: Path
) -> pl.LazyFrame:
    """The whole computation as one lazy frame (nothing is read until it is collected)."""
    elig = pl.scan_parquet(list(eligibility)).select(
        "member_id",
        "group_id",
        pl.col("enrollment_start_date").alias("st"),
        pl.col("enrollment_end_date").alias("en"),
    )
    claims = pl.scan_parquet(list(medical_claim)).select(
        *_LINE,
        "member_id",
        pl.col("claim_start_date").alias("service_date"),
        "paid_date",
        (pl.col("allowed_amount") * 100).cast(pl.Int64).alias("allowed_cents"),
        pl.col("rendering_npi").alias("npi"),
        pl.coalesce(pl.col("rendering_tin"), pl.col("billing_tin")).alias("tin"),
        "hcpcs_code",
    )
    ros = pl.scan_parquet(roster).select(
        "entity_id", "tin", "npi", "specialty_code", "effective_date", "termination_date"
    )
    cells = (
        _member_months(elig, params)
        .join(_costs(claims, elig, params), on=_MG, how="full", coalesce=True)
        .with_columns(pl.col("member_month_units").fill_null(0), pl.col("raw").fill_null(0).cast(pl.Int64))
    )
    return (
        _truncated(cells, params.truncation_cents)
        .join(_winners(claims, elig, ros, params), on="member_id", how="left")
        .group_by("entity_id", "group_id")
        .agg(
            pl.len().alias("attributed_members"),
            pl.col("member_month_units").sum(),
            pl.col("raw").sum().alias("raw_cost_cents"),
            pl.col("truncated").sum().alias("truncated_cost_cents"),
        )
    )


def polars_reference(
    params: CoreParams, eligibility: Sequence[Path], medical_claim: Sequence[Path], roster: Path
) -> tuple[float, pl.DataFrame]:
    """(seconds, entity x group table): building the plan and one streaming collect."""
    started = time.perf_counter()
    result = polars_query(params, eligibility, medical_claim, roster).collect(engine="streaming")
    seconds = time.perf_counter() - started
    return seconds, normalise(result)
