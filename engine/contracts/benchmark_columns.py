"""The shared-savings benchmark expenditure B, its steps as columns: :mod:`.benchmark` (and
:func:`.common.risk_ratio`) for :mod:`.shared_savings_columns`.

The same steps, labels and ``Decimal`` expressions as :func:`.benchmark.benchmark_expenditure`,
for every form of benchmark (a fixed PMPM, a trended baseline, weighted baseline years, the
computed baseline) with or without risk adjustment.  A unit that the step-by-step engine
refuses (no computed baseline, missing or non-positive risk scores, no member months to
risk-adjust, a benchmark that is not positive) raises :class:`Refused`, and the whole batch
is left to the step-by-step engine, which raises its own error for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from settle.engine.contracts.benchmark import trend_factor
from settle.engine.contracts.models import (
    ComputedBenchmark,
    FixedBenchmark,
    SharedSavingsContract,
    TrendedBaseline,
    WeightedBaseline,
)
from settle.engine.money import cents_to_decimal, round_cents
from settle.engine.statement import RATE_PLACES
from settle.engine.statement_columns import StatementColumns, StepSlot

__all__ = ["BenchmarkColumns", "BenchmarkInputs", "Refused"]

_RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)


class Refused(Exception):
    """A unit the step-by-step engine refuses: its batch is settled step by step instead."""


@dataclass(frozen=True)
class BenchmarkInputs:
    """A unit's figures the benchmark needs."""

    member_months: Decimal
    baseline_pmpm: Decimal | None = None
    risk_score: Decimal | None = None
    baseline_risk_score: Decimal | None = None


def _ratio(exact: Decimal) -> Decimal:
    return exact.quantize(_RATE_QUANTUM, rounding=ROUND_HALF_EVEN)


class BenchmarkColumns:
    """The benchmark's step slots (declared in step order) and :meth:`publish`."""

    def __init__(self, c: StatementColumns, contract: SharedSavingsContract) -> None:
        bench = contract.terms.benchmark
        if bench is None:
            raise ValueError("a column-wise settlement needs the terms' benchmark")
        self.bench = bench
        self.s_source = c.slot("benchmark_source", "Benchmark source", "text")
        self.years: list[tuple[StepSlot, int]] = []
        self.s_baseline: StepSlot | None = None
        self.baseline: int | None = None  # the terms' baseline PMPM in cents (not computed)
        self.factor = Decimal(1)
        self.s_trend: StepSlot | None = None
        self.fixed: int | None = None
        if isinstance(bench, FixedBenchmark):
            self.source = "fixed PMPM in the terms"
            self.fixed = round_cents(bench.pmpm)
            self.s_pmpm = c.slot("benchmark_pmpm", "Benchmark PMPM (terms)", "usd_pmpm")
        else:
            if isinstance(bench, TrendedBaseline):
                self.source = "baseline PMPM in the terms, trended"
                self.s_baseline = c.slot("baseline_pmpm", "Baseline PMPM (terms)", "usd_pmpm")
                self.baseline = round_cents(bench.baseline_pmpm)
            elif isinstance(bench, WeightedBaseline):
                self.source = "weighted baseline years in the terms, trended"
                for i, year in enumerate(bench.baseline_years, 1):
                    slot = c.slot(
                        f"baseline_year_{i}_pmpm",
                        f"Baseline year {i} PMPM (weight {year.weight})",
                        "usd_pmpm",
                    )
                    self.years.append((slot, round_cents(year.pmpm)))
                self.s_baseline = c.slot(
                    "baseline_pmpm", "Weighted baseline PMPM = Σ PMPM × weight", "usd_pmpm"
                )
                weighted = sum((y.pmpm * y.weight for y in bench.baseline_years), Decimal(0))
                self.baseline = round_cents(weighted)
            else:
                assert isinstance(bench, ComputedBenchmark)
                self.source = "baseline PMPM computed from lookback claims, trended"
                self.s_baseline = c.slot(
                    "baseline_pmpm", "Baseline PMPM (computed from the lookback claims)", "usd_pmpm"
                )
            self.factor = trend_factor(bench.trend, bench.trend_years)
            self.s_trend = c.slot(
                "trend_factor", f"Trend factor (1 + {bench.trend}) ^ {bench.trend_years}", "ratio"
            )
            self.s_pmpm = c.slot(
                "benchmark_pmpm", "Trended benchmark PMPM = baseline PMPM × trend factor", "usd_pmpm"
            )
        risk = contract.risk
        self.adjust = risk.adjust
        self.ceiling = None if risk.growth_cap is None else 1 + risk.growth_cap
        if self.adjust:
            self.s_score = c.slot(
                "risk_score", "Performance-period risk score (member-month weighted)", "score"
            )
            self.s_base_score = c.slot(
                "baseline_risk_score", "Baseline risk score (member-month weighted)", "score"
            )
            self.s_ratio = c.slot("risk_ratio", "Risk ratio = performance / baseline risk", "ratio")
            self.s_capped = (
                None
                if self.ceiling is None
                else c.slot(
                    "risk_ratio_capped", f"Risk ratio capped at 1 + growth cap ({self.ceiling})", "ratio"
                )
            )
            self.s_adjusted = c.slot(
                "risk_adjusted_pmpm", "Risk-adjusted benchmark PMPM = PMPM × risk ratio", "usd_pmpm"
            )
        self.s_b = c.slot(
            "benchmark_expenditure", "Benchmark expenditure B = benchmark PMPM × member months", "usd"
        )

    def publish(self, i: int, u: BenchmarkInputs) -> int:
        """Publish statement ``i``'s steps to B; return B in cents (:class:`Refused` where the
        step-by-step engine raises, or B is not positive)."""
        self.s_source.add(i, self.source)
        if self.fixed is not None:
            pmpm = self.s_pmpm.add(i, self.fixed)
        else:
            for slot, cents in self.years:
                slot.add(i, cents)
            assert self.s_baseline is not None and self.s_trend is not None
            if self.baseline is not None:
                baseline = self.s_baseline.add(i, self.baseline)
            elif u.baseline_pmpm is None:
                raise Refused("no computed baseline PMPM")
            else:
                baseline = self.s_baseline.add(i, round_cents(u.baseline_pmpm))
            factor = self.s_trend.add(i, self.factor)
            pmpm = self.s_pmpm.add(i, round_cents(cents_to_decimal(baseline) * factor))
        if self.adjust:
            ratio = self._risk_ratio(i, u)
            pmpm = self.s_adjusted.add(i, round_cents(cents_to_decimal(pmpm) * ratio))
        b: int = self.s_b.add(i, round_cents(cents_to_decimal(pmpm) * u.member_months))
        if b <= 0:
            raise Refused("a benchmark expenditure that is not positive")
        return b

    def _risk_ratio(self, i: int, u: BenchmarkInputs) -> Decimal:
        if u.member_months == 0:
            raise Refused("no member months to risk-adjust")  # and B = 0
        if u.risk_score is None or u.baseline_risk_score is None or u.baseline_risk_score <= 0:
            raise Refused("risk scores missing")
        score = self.s_score.add(i, _ratio(u.risk_score))
        baseline = self.s_base_score.add(i, _ratio(u.baseline_risk_score))
        if baseline <= 0:
            raise Refused("a baseline risk score that rounds to zero")
        ratio: Decimal = self.s_ratio.add(i, _ratio(score / baseline))
        if self.s_capped is not None and self.ceiling is not None:
            ratio = self.s_capped.add(i, min(ratio, self.ceiling))
        return ratio
