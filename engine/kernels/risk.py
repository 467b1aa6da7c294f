"""Risk: member scores on member-cost rows, renormalisation, entity risk, the risk ratio (step 5).

Rules (ours where the domain text is silent):

* A member's score for a period is the ``risk_score`` of their ``risk_scores`` row with that
  ``period`` label (validation rejects duplicates; if several remain, the largest is used).
  A member with no score has a null score and does not weigh in any mean.
* Scores are held as integer **micro-units**, ``risk_score_micro = round_half_even(score *
  10**6)``, and each row carries ``risk_weighted_units = risk_score_micro *
  member_month_units``.  Every mean is then a ratio of exact integer sums, so entity risk
  does not depend on how the members were sharded or ordered (a float sum would).
* Renormalisation (``risk.renormalize``): the population's member-month-weighted mean score
  is ``m = S_w / (10**6 * S_mm)`` (``S_w`` = sum of ``risk_weighted_units``, ``S_mm`` = sum of
  scored ``member_month_units`` over the contract's population); each score becomes
  ``score / m``, in micro-units ``round_half_even(micro * 10**6 * S_mm / S_w)``.  The
  population spans shards, so it is two-phase: :func:`risk_basis` per shard, add the
  :class:`RiskBasis` objects, then :func:`with_risk` with the total.
* Entity risk = ``sum(risk_weighted_units) / (10**6 * sum(scored member_month_units))``.
* Benchmark risk ratio = performance risk / baseline risk, capped at ``1 + growth_cap``
  (growth only: a falling ratio is not floored); 1.0 when ``adjust`` is false.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from settle.engine.errors import RiskDataError
from settle.engine.kernels.frames import Frame, div_round_half_even, lazy
from settle.engine.kernels.rules import RiskRules

__all__ = [
    "RISK_SCALE",
    "RiskBasis",
    "benchmark_risk_ratio",
    "entity_risk_ratios",
    "member_scores",
    "risk_basis",
    "weighted_risk",
    "with_risk",
]

RISK_SCALE = 1_000_000  # micro-units of one risk score


@dataclass(frozen=True)
class RiskBasis:
    """Population sums for renormalisation: ``weighted_units`` = sum of score micro-units x
    member-month units, ``member_month_units`` = member-month units of scored members."""

    weighted_units: int = 0
    member_month_units: int = 0

    def __add__(self, other: RiskBasis) -> RiskBasis:
        return RiskBasis(
            self.weighted_units + other.weighted_units, self.member_month_units + other.member_month_units
        )

    @property
    def mean(self) -> float | None:
        """The member-month-weighted mean score (``None`` with no scored member months)."""
        return weighted_risk(self.weighted_units, self.member_month_units)


def member_scores(risk_scores: Frame, period_label: str) -> pl.LazyFrame:
    """member_id, risk_score_micro (Int64) for one period label."""
    return (
        lazy(risk_scores)
        .filter(pl.col("period").cast(pl.String) == period_label)
        .group_by("member_id")
        .agg(pl.col("risk_score").max())
        .select(
            "member_id",
            (pl.col("risk_score") * RISK_SCALE)
            .round(0, mode="half_to_even")
            .cast(pl.Int64)
            .alias("risk_score_micro"),
        )
    )


def _scored(member_costs: Frame, risk_scores: Frame, period_label: str) -> pl.LazyFrame:
    return lazy(member_costs).join(member_scores(risk_scores, period_label), on="member_id", how="left")


def risk_basis(member_costs: Frame, risk_scores: Frame, period_label: str) -> RiskBasis:
    """Phase 1 of renormalisation: this shard's sums (add the shards' results together)."""
    sums = (
        _scored(member_costs, risk_scores, period_label)
        .filter(pl.col("risk_score_micro").is_not_null())
        .select(
            (pl.col("risk_score_micro").cast(pl.Int128) * pl.col("member_month_units")).sum().alias("w"),
            pl.col("member_month_units").cast(pl.Int128).sum().alias("mm"),
        )
        .collect()
    )
    return RiskBasis(int(sums["w"][0] or 0), int(sums["mm"][0] or 0))


def with_risk(
    member_costs: Frame,
    risk_scores: Frame,
    period_label: str,
    rules: RiskRules | None = None,
    basis: RiskBasis | None = None,
) -> pl.DataFrame:
    """Add ``risk_score`` (Float64), ``risk_score_micro`` and ``risk_weighted_units`` (Int64)
    to member-cost rows.  With ``rules.renormalize`` the population ``basis`` (the sum of every
    shard's :func:`risk_basis`) is required."""
    rules = rules or RiskRules()
    lf = _scored(member_costs, risk_scores, period_label)
    if rules.renormalize:
        if basis is None:
            raise ValueError("with_risk: renormalize needs the population basis from risk_basis()")
        if basis.weighted_units <= 0:
            raise RiskDataError(
                f"risk.renormalize: no member months with a positive risk score for period {period_label!r}"
            )
        scale = pl.lit(RISK_SCALE * basis.member_month_units, dtype=pl.Int128)
        total = pl.lit(basis.weighted_units, dtype=pl.Int128)
        lf = lf.with_columns(
            div_round_half_even(pl.col("risk_score_micro").cast(pl.Int128) * scale, total)
            .cast(pl.Int64)
            .alias("risk_score_micro")
        )
    return lf.with_columns(
        (pl.col("risk_score_micro") / RISK_SCALE).alias("risk_score"),
        (pl.col("risk_score_micro") * pl.col("member_month_units")).alias("risk_weighted_units"),
    ).collect()


def weighted_risk(weighted_units: int, member_month_units: int) -> float | None:
    """A member-month-weighted mean score from exact sums (``None`` when nothing is scored)."""
    if member_month_units == 0:
        return None
    return weighted_units / (RISK_SCALE * member_month_units)


def benchmark_risk_ratio(performance: float, baseline: float, rules: RiskRules) -> float:
    """Performance / baseline risk, capped at ``1 + growth_cap``; 1.0 without adjustment."""
    if not rules.adjust:
        return 1.0
    if not baseline > 0:
        raise RiskDataError("risk.adjust: the baseline risk score is missing or not positive")
    ratio = performance / baseline
    if rules.growth_cap is not None:
        ratio = min(ratio, 1.0 + rules.growth_cap)
    return ratio


def entity_risk_ratios(performance: Frame, baseline: Frame, rules: RiskRules) -> pl.DataFrame:
    """Per entity: ``performance_risk``, ``baseline_risk`` and the capped ``risk_ratio``.

    ``performance`` and ``baseline`` are entity aggregates (``aggregate(...).entities``) of
    the same member-cost rows scored with the performance and the baseline period's labels:
    the baseline risk of an entity's population is weighted by the same member months.  The
    unattributed row (null ``entity_id``) is left out.  With ``adjust`` false every ratio is
    1.0; otherwise an entity without a positive baseline risk raises :class:`RiskDataError`."""
    columns = ["entity_id", "risk_weighted_units", "risk_member_month_units"]

    def means(frame: Frame) -> dict[str, float | None]:
        rows = lazy(frame).select(columns).filter(pl.col("entity_id").is_not_null()).collect().rows()
        return {e: weighted_risk(int(w), int(mm)) for e, w, mm in rows}

    perf, base = means(performance), means(baseline)
    out = []
    for entity in sorted(perf):
        p, b = perf[entity], base.get(entity)
        if not rules.adjust:
            ratio = 1.0
        elif p is None or b is None or b <= 0:
            raise RiskDataError(
                f"risk.adjust: entity {entity} has no scored member months in the performance "
                "or the baseline period"
            )
        else:
            ratio = benchmark_risk_ratio(p, b, rules)
        out.append((entity, p, b, ratio))
    return pl.DataFrame(
        out,
        schema={
            "entity_id": pl.String,
            "performance_risk": pl.Float64,
            "baseline_risk": pl.Float64,
            "risk_ratio": pl.Float64,
        },
        orient="row",
    )
