"""The shared-savings benchmark expenditure B, step by step on the statement.

Order of the steps (each published figure is what the next one uses):

1. the baseline PMPM: the terms' ``pmpm`` (fixed), ``baseline_pmpm``, the weighted mean of
   ``baseline_years`` (Σ pmpm × weight), or the engine's ``computed`` baseline from the
   lookback claims (``EntityAggregates.baseline_pmpm``) — published rounded to the cent;
2. trended: baseline × (1 + trend) ** trend_years — rounded to the cent (a fixed ``pmpm`` is
   not trended);
3. risk-adjusted (when the contract's ``risk.adjust`` is true): × the risk ratio, capped at
   1 + ``growth_cap`` — rounded to the cent;
4. B = benchmark PMPM × member months — rounded to the cent.

When the aggregates carry ``benchmark_cents`` (a what-if gives the benchmark expenditure),
that figure **is** B and the terms' benchmark and risk adjustment are not applied; the
statement says so.
"""

from __future__ import annotations

from decimal import Decimal

from settle.engine.contracts.common import risk_ratio
from settle.engine.contracts.inputs import EntityAggregates
from settle.engine.contracts.models import (
    ComputedBenchmark,
    FixedBenchmark,
    RiskAdjustment,
    SharedSavingsTerms,
    TrendedBaseline,
    WeightedBaseline,
)
from settle.engine.errors import AggregatesError
from settle.engine.money import cents_to_decimal
from settle.engine.statement import StatementBuilder

__all__ = ["benchmark_expenditure", "trend_factor"]


def trend_factor(trend: Decimal, years: int) -> Decimal:
    """(1 + trend) ** years, exact."""
    return (1 + trend) ** years


def benchmark_expenditure(
    sb: StatementBuilder,
    terms: SharedSavingsTerms,
    risk: RiskAdjustment,
    agg: EntityAggregates,
    contract_id: str,
) -> int:
    """Publish the steps to B and return B in cents."""
    if agg.benchmark_cents is not None:
        sb.text("benchmark_source", "Benchmark source", "given with the aggregates")
        return sb.cents("benchmark_expenditure", "Benchmark expenditure B (given)", agg.benchmark_cents)
    bench = terms.benchmark
    if bench is None:
        raise AggregatesError(
            f"contract {contract_id}: entity {agg.entity_id} has no benchmark expenditure and the terms "
            "give no benchmark (terms.benchmark)."
        )
    if isinstance(bench, FixedBenchmark):
        sb.text("benchmark_source", "Benchmark source", "fixed PMPM in the terms")
        pmpm = sb.money("benchmark_pmpm", "Benchmark PMPM (terms)", bench.pmpm, "usd_pmpm")
    else:
        baseline = _baseline_pmpm(sb, bench, agg, contract_id)
        factor = sb.rate(
            "trend_factor",
            f"Trend factor (1 + {bench.trend}) ^ {bench.trend_years}",
            trend_factor(bench.trend, bench.trend_years),
            "ratio",
        )
        pmpm = sb.money(
            "benchmark_pmpm",
            "Trended benchmark PMPM = baseline PMPM × trend factor",
            cents_to_decimal(baseline) * factor,
            "usd_pmpm",
        )
    if risk.adjust:
        ratio = risk_ratio(sb, risk, agg, contract_id)
        pmpm = sb.money(
            "risk_adjusted_pmpm",
            "Risk-adjusted benchmark PMPM = PMPM × risk ratio",
            cents_to_decimal(pmpm) * ratio,
            "usd_pmpm",
        )
    return sb.money(
        "benchmark_expenditure",
        "Benchmark expenditure B = benchmark PMPM × member months",
        cents_to_decimal(pmpm) * agg.member_months,
    )


def _baseline_pmpm(
    sb: StatementBuilder,
    bench: TrendedBaseline | WeightedBaseline | ComputedBenchmark,
    agg: EntityAggregates,
    contract_id: str,
) -> int:
    if isinstance(bench, TrendedBaseline):
        sb.text("benchmark_source", "Benchmark source", "baseline PMPM in the terms, trended")
        return sb.money("baseline_pmpm", "Baseline PMPM (terms)", bench.baseline_pmpm, "usd_pmpm")
    if isinstance(bench, WeightedBaseline):
        sb.text("benchmark_source", "Benchmark source", "weighted baseline years in the terms, trended")
        for i, year in enumerate(bench.baseline_years, 1):
            sb.money(
                f"baseline_year_{i}_pmpm",
                f"Baseline year {i} PMPM (weight {year.weight})",
                year.pmpm,
                "usd_pmpm",
            )
        weighted = sum((y.pmpm * y.weight for y in bench.baseline_years), Decimal(0))
        return sb.money("baseline_pmpm", "Weighted baseline PMPM = Σ PMPM × weight", weighted, "usd_pmpm")
    sb.text("benchmark_source", "Benchmark source", "baseline PMPM computed from lookback claims, trended")
    if agg.baseline_pmpm is None:
        raise AggregatesError(
            f"contract {contract_id}: entity {agg.entity_id} has no computed baseline PMPM, which "
            "benchmark {computed: true} needs."
        )
    return sb.money(
        "baseline_pmpm", "Baseline PMPM (computed from the lookback claims)", agg.baseline_pmpm, "usd_pmpm"
    )
