"""The kind-specific ``terms`` of a contract document, one model per kind.

Term names are fixed by issue 5 and ``docs/contracts.md`` (portable between tools).  Forms
with alternatives (a benchmark, an earn-back rule, a cost target) are unions told apart by
their keys, with an error naming every allowed form when none fits.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from settle.engine.contracts.base import Dollars, Rate, StrictModel, Trend

__all__ = [
    "BaselineYear",
    "Benchmark",
    "BonusPoolTerms",
    "ComputedBenchmark",
    "CostTarget",
    "EarnBack",
    "EarnBackLinear",
    "EarnBackTier",
    "EarnBackTiers",
    "FixedBenchmark",
    "MarginCorridor",
    "MarginShareTerms",
    "PopulationPaymentTerms",
    "RiskTier",
    "SharedSavingsTerms",
    "TargetPmpm",
    "TargetTrend",
    "TrendedBaseline",
    "WeightedBaseline",
    "WithholdTerms",
]

# --- shared_savings --------------------------------------------------------------------------


class FixedBenchmark(StrictModel):
    """A fixed benchmark PMPM in dollars."""

    pmpm: Dollars


class TrendedBaseline(StrictModel):
    """A baseline PMPM trended forward: ``baseline_pmpm × (1 + trend) ** trend_years``."""

    baseline_pmpm: Dollars
    trend: Trend = Decimal(0)
    trend_years: int = Field(default=1, ge=0, le=10)


class BaselineYear(StrictModel):
    """One baseline year's PMPM and its weight."""

    pmpm: Dollars
    weight: Rate


class WeightedBaseline(StrictModel):
    """Baseline years weighted (weights add up to 1), then trended one year by ``trend``."""

    baseline_years: list[BaselineYear] = Field(min_length=1)
    trend: Trend = Decimal(0)
    trend_years: int = Field(default=1, ge=0, le=10)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> WeightedBaseline:
        total = sum((y.weight for y in self.baseline_years), Decimal(0))
        if total != 1:
            raise ValueError(f"baseline_years weights must add up to 1 (they add up to {total})")
        return self


class ComputedBenchmark(StrictModel):
    """The engine computes the baseline PMPM from the lookback claims, then trends it."""

    computed: Literal[True]
    trend: Trend = Decimal(0)
    trend_years: int = Field(default=1, ge=0, le=10)


def _benchmark_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            FixedBenchmark: "pmpm",
            TrendedBaseline: "baseline_pmpm",
            WeightedBaseline: "baseline_years",
            ComputedBenchmark: "computed",
        }.get(type(value))
    if isinstance(value, dict):
        for key in ("baseline_years", "baseline_pmpm", "computed", "pmpm"):
            if key in value:
                return key
    return None


Benchmark = Annotated[
    Annotated[FixedBenchmark, Tag("pmpm")]
    | Annotated[TrendedBaseline, Tag("baseline_pmpm")]
    | Annotated[WeightedBaseline, Tag("baseline_years")]
    | Annotated[ComputedBenchmark, Tag("computed")],
    Discriminator(
        _benchmark_tag,
        custom_error_type="benchmark_form",
        custom_error_message=(
            "benchmark must be one of {pmpm: X} | {baseline_pmpm: X, trend: T, trend_years: N} | "
            "{baseline_years: [{pmpm: X, weight: W}, ...], trend: T} | {computed: true, trend: T}"
        ),
    ),
]


class SharedSavingsTerms(StrictModel):
    """Terms of a one- or two-sided shared savings contract (names fixed by issue 5).

    ``benchmark`` may be left out when the benchmark expenditure is supplied directly (what-if
    aggregates).  ``min_loss_rate`` defaults to ``min_savings_rate``.  ``loss_sharing_rate`` is
    required when ``risk`` is ``two_sided``.
    """

    benchmark: Benchmark | None = None
    risk: Literal["one_sided", "two_sided"] = "one_sided"
    min_savings_rate: Rate | Literal["mssp_sliding"] = Decimal(0)
    min_loss_rate: Rate | Literal["mssp_sliding"] | None = None
    sharing_rate: Rate
    quality_mode: Literal["scale", "gate", "none"] = "scale"
    savings_cap: Rate | None = None
    first_dollar: bool = True
    sequestration: Rate = Decimal(0)
    loss_sharing_rate: Rate | Literal["one_minus_final"] | None = None
    loss_rate_floor: Rate = Decimal(0)
    loss_rate_ceiling: Rate = Decimal(1)
    loss_rate_if_quality_failed: Rate | None = None
    loss_cap: Rate | None = None

    @model_validator(mode="after")
    def _two_sided_terms(self) -> SharedSavingsTerms:
        if self.risk == "two_sided" and self.loss_sharing_rate is None:
            raise ValueError("a two_sided contract needs loss_sharing_rate (a number or one_minus_final)")
        if self.loss_rate_floor > self.loss_rate_ceiling:
            raise ValueError("loss_rate_floor must not exceed loss_rate_ceiling")
        return self

    @property
    def effective_min_loss_rate(self) -> Decimal | Literal["mssp_sliding"]:
        """``min_loss_rate``, defaulting to ``min_savings_rate``."""
        return self.min_savings_rate if self.min_loss_rate is None else self.min_loss_rate


# --- withhold --------------------------------------------------------------------------------


class EarnBackLinear(StrictModel):
    """Earned fraction 0 below ``floor``, 1 at or above ``target``, linear between."""

    floor: Rate
    target: Rate

    @model_validator(mode="after")
    def _floor_below_target(self) -> EarnBackLinear:
        if self.floor >= self.target:
            raise ValueError("earn_back.floor must be below earn_back.target")
        return self


class EarnBackTier(StrictModel):
    """A score at or above ``min_score`` earns ``earned_fraction`` (the highest tier reached)."""

    min_score: Rate
    earned_fraction: Rate


class EarnBackTiers(StrictModel):
    """Tiers, ascending by ``min_score``; a score below the first tier earns nothing."""

    tiers: list[EarnBackTier] = Field(min_length=1)

    @model_validator(mode="after")
    def _ascending(self) -> EarnBackTiers:
        scores = [t.min_score for t in self.tiers]
        if scores != sorted(scores) or len(set(scores)) != len(scores):
            raise ValueError("earn_back.tiers must be strictly ascending by min_score")
        return self


def _earn_back_tag(value: Any) -> str | None:
    if isinstance(value, EarnBackLinear) or (isinstance(value, dict) and "tiers" not in value):
        return "linear"
    if isinstance(value, EarnBackTiers | dict):
        return "tiers"
    return None


EarnBack = Annotated[
    Annotated[EarnBackLinear, Tag("linear")] | Annotated[EarnBackTiers, Tag("tiers")],
    Discriminator(
        _earn_back_tag,
        custom_error_type="earn_back_form",
        custom_error_message=(
            "earn_back must be {floor: F, target: T} or {tiers: [{min_score: S, earned_fraction: E}, ...]}"
        ),
    ),
]


class WithholdTerms(StrictModel):
    """Terms of a quality withhold pool per employer × entity."""

    withhold_rate: Rate
    interest_rate: Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)] = Decimal(0)
    settlement_date: dt.date
    earn_back: EarnBack


# --- bonus_pool ------------------------------------------------------------------------------


class TargetPmpm(StrictModel):
    """A cost target PMPM in dollars."""

    pmpm: Dollars


class TargetTrend(StrictModel):
    """A cost target as a baseline PMPM grown by ``trend``: ``baseline_pmpm × (1 + trend)``."""

    trend: Trend
    baseline_pmpm: Dollars


def _target_tag(value: Any) -> str | None:
    if isinstance(value, TargetPmpm) or (isinstance(value, dict) and "pmpm" in value):
        return "pmpm"
    if isinstance(value, TargetTrend) or (isinstance(value, dict) and "trend" in value):
        return "trend"
    return None


CostTarget = Annotated[
    Annotated[TargetPmpm, Tag("pmpm")] | Annotated[TargetTrend, Tag("trend")],
    Discriminator(
        _target_tag,
        custom_error_type="target_form",
        custom_error_message="target must be {pmpm: X} or {trend: T, baseline_pmpm: X}",
    ),
]


class BonusPoolTerms(StrictModel):
    """Terms of an employer-prefunded bonus pool per employer × entity."""

    prefund_rate: Rate
    prefund_base: Literal["attributed_claims", "participating_providers"] = "attributed_claims"
    target: CostTarget
    provider_share: Rate = Decimal("0.5")
    max_fraction_of_pool: Rate | None = None
    max_amount: Dollars | None = None
    interest_rate: Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)] = Decimal(0)
    return_date: dt.date


# --- population_payment ----------------------------------------------------------------------


class RiskTier(StrictModel):
    """Members with a risk score at or above ``min_risk`` (the highest tier reached) get ``pmpm``."""

    min_risk: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
    pmpm: Dollars


class PopulationPaymentTerms(StrictModel):
    """Terms of a population-based PMPM payment, optionally by risk tier, with a quality holdback."""

    pmpm: Dollars | None = None
    risk_tiers: list[RiskTier] | None = Field(default=None, min_length=1)
    quality_holdback: Rate = Decimal(0)
    quality_target: Rate | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> PopulationPaymentTerms:
        if (self.pmpm is None) == (self.risk_tiers is None):
            raise ValueError("give exactly one of pmpm or risk_tiers")
        if self.risk_tiers is not None:
            mins = [t.min_risk for t in self.risk_tiers]
            if mins != sorted(mins) or len(set(mins)) != len(mins) or mins[0] != 0:
                raise ValueError("risk_tiers must be strictly ascending by min_risk, the first at 0")
        if self.quality_holdback > 0 and self.quality_target is None:
            raise ValueError("a quality_holdback needs a quality_target")
        return self


# --- margin_share ----------------------------------------------------------------------------


class MarginCorridor(StrictModel):
    """A band of margin rates (margin / premium) inside which nothing is shared."""

    lower: Annotated[Decimal, Field(ge=-1, le=1, allow_inf_nan=False)]
    upper: Annotated[Decimal, Field(ge=-1, le=1, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _ordered(self) -> MarginCorridor:
        if self.lower > self.upper:
            raise ValueError("corridor.lower must not exceed corridor.upper")
        return self


class MarginShareTerms(StrictModel):
    """Terms of a plan-provider margin share."""

    premium_pmpm: Dollars | None = None
    admin_load: Rate = Decimal(0)
    provider_share: Rate
    corridor: MarginCorridor | None = None
    cap_amount: Dollars | None = None
    cap_rate: Rate | None = None
