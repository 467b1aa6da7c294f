"""Contract documents: the pydantic models of a contract and its kind-specific terms.

A contracts file is YAML or JSON, either ``contracts: [ ... ]`` or a bare list.  One document::

    id: ssp-2025-north                  # unique within the job (required)
    kind: shared_savings                # shared_savings | withhold | bonus_pool |
                                        # population_payment | margin_share (required)
    name: North ACO shared savings 2025
    period: {start: 2025-01-01, end: 2025-12-31, runout_months: 3}   # default: the job's period
    scope: {groups: all, entities: all}                # or lists of ids
    settle_per: entity                  # entity | entity_group
    attribution: {method: plurality_primary_care, window: prospective, lookback_months: 12,
                  use_voluntary_alignment: true, primary_care_codes: null}
    cost: {basis: allowed, include_pharmacy: false, completion_factor: 1.0,
           truncation: {amount: 125000}, exclude_hcpcs: [], member_months: any_day}
    risk: {adjust: true, growth_cap: 0.03, renormalize: false}
    quality_period: "2025"
    terms: {...}                        # required; the model depends on ``kind``

Every section except ``id``, ``kind`` and ``terms`` has defaults, so a what-if document needs
only those three.  ``terms`` is a discriminated union on ``kind`` (one terms model per kind,
see ``docs/contracts.md`` for each term).  Every model forbids unknown fields and says which
fields are allowed.  Rates are fractions (``0.5`` = 50%) held as exact ``Decimal``; dollar
amounts in terms are decimal dollars (``Decimal``), converted to cents by the kinds.

:func:`parse_contracts` validates a list of documents and raises :class:`ContractError` whose
one-paragraph message names the contract, every invalid field's path and the allowed values.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from settle.engine.errors import ContractError

__all__ = [
    "KINDS",
    "Attribution",
    "BaselineYear",
    "BonusPoolContract",
    "BonusPoolTerms",
    "ComputedBenchmark",
    "Contract",
    "Cost",
    "EarnBackLinear",
    "EarnBackTier",
    "EarnBackTiers",
    "FixedBenchmark",
    "MarginCorridor",
    "MarginShareContract",
    "MarginShareTerms",
    "Period",
    "PopulationPaymentContract",
    "PopulationPaymentTerms",
    "RiskAdjustment",
    "RiskTier",
    "Scope",
    "SharedSavingsContract",
    "SharedSavingsTerms",
    "TargetPmpm",
    "TargetTrend",
    "TrendedBaseline",
    "WeightedBaseline",
    "WithholdContract",
    "WithholdTerms",
    "parse_contract",
    "parse_contracts",
]

KINDS = ("shared_savings", "withhold", "bonus_pool", "population_payment", "margin_share")

Rate = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
"""A fraction in [0, 1] (0.5 = 50%)."""
Trend = Annotated[Decimal, Field(gt=-1, le=1, allow_inf_nan=False)]
"""An annual growth rate (0.035 = +3.5% a year)."""
Dollars = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
"""A non-negative decimal dollar amount."""


class _Strict(BaseModel):
    """Base of every contract model: frozen, unknown fields refused with the allowed names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                allowed = ", ".join(cls.model_fields)
                raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {allowed}")
        return data


# --- common sections -------------------------------------------------------------------------


class Period(_Strict):
    """A contract's own performance period (same fields as the job's); absent: the job's period."""

    start: dt.date
    end: dt.date
    runout_months: int = Field(default=3, ge=0, le=24)

    @model_validator(mode="after")
    def _end_after_start(self) -> Period:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class Scope(_Strict):
    """Which employer groups and contract entities the contract covers (``all`` or id lists)."""

    groups: Literal["all"] | list[str] = "all"
    entities: Literal["all"] | list[str] = "all"

    def covers_group(self, group_id: str) -> bool:
        return self.groups == "all" or group_id in self.groups

    def covers_entity(self, entity_id: str) -> bool:
        return self.entities == "all" or entity_id in self.entities


class Attribution(_Strict):
    """How members are attributed to entities (see ``DOMAIN.md`` step 3)."""

    method: Literal["plurality_primary_care", "plurality_visits"] = "plurality_primary_care"
    window: Literal["prospective", "retrospective"] = "prospective"
    lookback_months: int = Field(default=12, ge=1, le=60)
    use_voluntary_alignment: bool = True
    primary_care_codes: str | None = None


class TruncationAmount(_Strict):
    """Truncate each member's annual cost at a fixed dollar amount."""

    amount: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class TruncationPercentile(_Strict):
    """Truncate each member's annual cost at a percentile of the population's cost."""

    percentile: Annotated[Decimal, Field(gt=0, lt=1, allow_inf_nan=False)]


def _truncation_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "amount" in value:
            return "amount"
        if "percentile" in value:
            return "percentile"
        return None
    if isinstance(value, TruncationAmount):
        return "amount"
    if isinstance(value, TruncationPercentile):
        return "percentile"
    return None


Truncation = Annotated[
    Annotated[TruncationAmount, Tag("amount")] | Annotated[TruncationPercentile, Tag("percentile")],
    Discriminator(
        _truncation_tag,
        custom_error_type="truncation_form",
        custom_error_message="truncation must be {amount: DOLLARS} or {percentile: 0..1} or null",
    ),
]


class Cost(_Strict):
    """How total cost of care is counted (see ``DOMAIN.md`` step 4)."""

    basis: Literal["allowed", "paid"] = "allowed"
    include_pharmacy: bool = False
    completion_factor: Annotated[Decimal, Field(ge=1, le=2, allow_inf_nan=False)] = Decimal(1)
    truncation: Truncation | None = None
    exclude_hcpcs: list[str] = Field(default_factory=list)
    member_months: Literal["any_day", "first_of_month", "partial"] = "any_day"


class RiskAdjustment(_Strict):
    """Risk adjustment of benchmarks and targets (see ``DOMAIN.md`` step 5)."""

    adjust: bool = False
    growth_cap: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None = None
    renormalize: bool = False


# --- shared_savings --------------------------------------------------------------------------


class FixedBenchmark(_Strict):
    """A fixed benchmark PMPM in dollars."""

    pmpm: Dollars


class TrendedBaseline(_Strict):
    """A baseline PMPM trended forward: ``baseline_pmpm × (1 + trend) ** trend_years``."""

    baseline_pmpm: Dollars
    trend: Trend = Decimal(0)
    trend_years: int = Field(default=1, ge=0, le=10)


class BaselineYear(_Strict):
    """One baseline year's PMPM and its weight."""

    pmpm: Dollars
    weight: Rate


class WeightedBaseline(_Strict):
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


class ComputedBenchmark(_Strict):
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


class SharedSavingsTerms(_Strict):
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


class EarnBackLinear(_Strict):
    """Earned fraction 0 below ``floor``, 1 at or above ``target``, linear between."""

    floor: Rate
    target: Rate

    @model_validator(mode="after")
    def _floor_below_target(self) -> EarnBackLinear:
        if self.floor >= self.target:
            raise ValueError("earn_back.floor must be below earn_back.target")
        return self


class EarnBackTier(_Strict):
    """A score at or above ``min_score`` earns ``earned_fraction`` (the highest tier reached)."""

    min_score: Rate
    earned_fraction: Rate


class EarnBackTiers(_Strict):
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


class WithholdTerms(_Strict):
    """Terms of a quality withhold pool per employer × entity."""

    withhold_rate: Rate
    interest_rate: Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)] = Decimal(0)
    settlement_date: dt.date
    earn_back: EarnBack


# --- bonus_pool ------------------------------------------------------------------------------


class TargetPmpm(_Strict):
    """A cost target PMPM in dollars."""

    pmpm: Dollars


class TargetTrend(_Strict):
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


class BonusPoolTerms(_Strict):
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


class RiskTier(_Strict):
    """Members with a risk score at or above ``min_risk`` (the highest tier reached) get ``pmpm``."""

    min_risk: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
    pmpm: Dollars


class PopulationPaymentTerms(_Strict):
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


class MarginCorridor(_Strict):
    """A band of margin rates (margin / premium) inside which nothing is shared."""

    lower: Annotated[Decimal, Field(ge=-1, le=1, allow_inf_nan=False)]
    upper: Annotated[Decimal, Field(ge=-1, le=1, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _ordered(self) -> MarginCorridor:
        if self.lower > self.upper:
            raise ValueError("corridor.lower must not exceed corridor.upper")
        return self


class MarginShareTerms(_Strict):
    """Terms of a plan-provider margin share."""

    premium_pmpm: Dollars | None = None
    admin_load: Rate = Decimal(0)
    provider_share: Rate
    corridor: MarginCorridor | None = None
    cap_amount: Dollars | None = None
    cap_rate: Rate | None = None


# --- the contract ----------------------------------------------------------------------------


class _ContractBase(_Strict):
    """Sections every contract kind shares."""

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str | None = None
    period: Period | None = None
    scope: Scope = Field(default_factory=Scope)
    settle_per: Literal["entity", "entity_group"] = "entity"
    attribution: Attribution = Field(default_factory=Attribution)
    cost: Cost = Field(default_factory=Cost)
    risk: RiskAdjustment = Field(default_factory=RiskAdjustment)
    quality_period: str | None = None

    def quality_period_for(self, job_period_start: dt.date) -> str:
        """The ``quality`` rows' period: ``quality_period``, else the period's start year."""
        if self.quality_period is not None:
            return self.quality_period
        return str((self.period.start if self.period else job_period_start).year)


class SharedSavingsContract(_ContractBase):
    kind: Literal["shared_savings"]
    terms: SharedSavingsTerms


class WithholdContract(_ContractBase):
    kind: Literal["withhold"]
    terms: WithholdTerms


class BonusPoolContract(_ContractBase):
    kind: Literal["bonus_pool"]
    terms: BonusPoolTerms


class PopulationPaymentContract(_ContractBase):
    kind: Literal["population_payment"]
    terms: PopulationPaymentTerms


class MarginShareContract(_ContractBase):
    kind: Literal["margin_share"]
    terms: MarginShareTerms


Contract = Annotated[
    SharedSavingsContract
    | WithholdContract
    | BonusPoolContract
    | PopulationPaymentContract
    | MarginShareContract,
    Field(discriminator="kind"),
]
"""A validated contract document; ``contract.kind`` says which ``terms`` model it holds."""

_ADAPTER: TypeAdapter[Contract] = TypeAdapter(Contract)


_UNION_TAGS = frozenset(
    {
        ("truncation", "amount"),
        ("truncation", "percentile"),
        ("benchmark", "pmpm"),
        ("benchmark", "baseline_pmpm"),
        ("benchmark", "baseline_years"),
        ("benchmark", "computed"),
        ("earn_back", "linear"),
        ("earn_back", "tiers"),
        ("target", "pmpm"),
        ("target", "trend"),
    }
)
_TYPE_NAMES = frozenset({"decimal", "str", "int", "bool", "date", "float", "none", "dict", "list"})


def _is_tag(part: str | int, previous: str | int | None) -> bool:
    """Whether a location part is a union member's tag that pydantic inserted, not a field.

    A tagged union member's tag follows the union's field (``benchmark.pmpm.pmpm``: the first
    ``pmpm`` is the tag); smart unions insert type names (``decimal``, ``literal['all']``).
    """
    if not isinstance(part, str):
        return False
    if part in KINDS or part in _TYPE_NAMES or "[" in part or "-" in part:
        return True
    return (previous, part) in _UNION_TAGS


def _format_errors(exc: ValidationError) -> tuple[list[str], str]:
    """One "path: message" part per invalid field, union alternatives joined with "or"."""
    by_field: dict[str, list[str]] = {}
    got: dict[str, str] = {}
    for err in exc.errors():
        loc: list[str] = []
        previous: str | int | None = None
        for part in err["loc"]:
            if not _is_tag(part, previous):
                loc.append(str(part))
            previous = part
        field = ".".join(loc) or "(document)"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            field, message = "kind", f"unknown kind {err['input'].get('kind')!r}; allowed: {', '.join(KINDS)}"
        elif err["type"] == "union_tag_not_found":
            field, message = "kind", f"missing; allowed: {', '.join(KINDS)}"
        elif err["type"] in (
            "literal_error",
            "decimal_parsing",
            "less_than_equal",
            "greater_than_equal",
            "greater_than",
            "less_than",
            "bool_parsing",
            "date_from_datetime_parsing",
            "int_parsing",
            "string_type",
            "decimal_type",
        ) and _is_scalar(err["input"]):
            got.setdefault(field, f" (got {err['input']!r})")
        messages = by_field.setdefault(field, [])
        if message not in messages:
            messages.append(message)
    parts = [f"{field}: " + ", or ".join(msgs) + got.get(field, "") for field, msgs in by_field.items()]
    return parts, next(iter(by_field), "(document)")


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 40


def parse_contract(doc: Any, source: str, index: int = 0) -> Contract:
    """Validate one contract document (a mapping) or raise :class:`ContractError`."""
    where = f"{source}: contract {index}"
    if not isinstance(doc, dict):
        raise ContractError(f"{where}: a contract document must be a mapping of fields", source=source)
    if isinstance(doc.get("id"), str):
        where += f" (id {doc['id']!r})"
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        parts, first = _format_errors(exc)
        raise ContractError(
            f"{where} is invalid: " + "; ".join(parts) + ".", field=first, source=source
        ) from exc


def parse_contracts(docs: list[dict[str, Any]], source: str) -> list[Contract]:
    """Validate a list of contract documents; ids must be unique.

    Raises :class:`ContractError` (one paragraph: the source, the contract's index and id, each
    invalid field's dotted path and the allowed values) at the first invalid document.
    """
    if not isinstance(docs, list):
        raise ContractError(f"{source}: contracts must be a list of contract documents", source=source)
    contracts = [parse_contract(doc, source, i) for i, doc in enumerate(docs)]
    seen: dict[str, int] = {}
    for i, contract in enumerate(contracts):
        if contract.id in seen:
            raise ContractError(
                f"{source}: contract {i}: id {contract.id!r} is already used by contract "
                f"{seen[contract.id]}; contract ids must be unique within a job.",
                field="id",
                source=source,
            )
        seen[contract.id] = i
    return contracts
