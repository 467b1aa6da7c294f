"""The options the kernels take: plain, typed, frozen mirrors of a contract's sections.

The contract models (``settle.engine.contracts``) validate a contract document with pydantic
and hand the kernels these objects; field names are the document's own, so a field reads
the same in YAML, in a statement and here:

* :class:`Scope` mirrors ``scope`` (``groups`` / ``entities``: ``None`` means ``all``);
* :class:`AttributionRules` mirrors ``attribution``;
* :class:`CostRules` (with :class:`Truncation` and :class:`MemberMonthRule`) mirrors ``cost``;
* :class:`RiskRules` mirrors ``risk``;
* :class:`ContractRules` bundles them with the contract's id and period.

The performance period is :class:`settle.engine.job.Period`.  Every object checks its own
values on construction and raises :class:`~settle.engine.errors.ContractError` naming the
field, so a kernel never sees a nonsensical option.  Exact numbers (completion factor,
truncation amount and percentile) are held as :class:`~decimal.Decimal`; a float given for
one is converted through its shortest decimal text (``0.99`` becomes ``Decimal('0.99')``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from settle.engine.errors import ContractError
from settle.engine.job import Period

__all__ = [
    "AttributionMethod",
    "AttributionRules",
    "AttributionWindow",
    "ContractRules",
    "CostBasis",
    "CostRules",
    "MemberMonthRule",
    "RiskRules",
    "Scope",
    "Truncation",
]

_E = TypeVar("_E", bound=StrEnum)


class MemberMonthRule(StrEnum):
    """How a calendar month of enrollment counts (``cost.member_months``)."""

    ANY_DAY = "any_day"  # one member month if enrolled on at least one day of the month
    FIRST_OF_MONTH = "first_of_month"  # one member month if enrolled on the 1st
    PARTIAL = "partial"  # days enrolled / days in the month, exactly


class AttributionMethod(StrEnum):
    """What decides the plurality (``attribution.method``)."""

    PLURALITY_PRIMARY_CARE = "plurality_primary_care"  # allowed amount of primary-care services
    PLURALITY_VISITS = "plurality_visits"  # count of distinct service dates


class AttributionWindow(StrEnum):
    """Which claims attribute (``attribution.window``)."""

    PROSPECTIVE = "prospective"  # the lookback months before the period starts
    RETROSPECTIVE = "retrospective"  # the performance period itself


class CostBasis(StrEnum):
    """Which amount is cost (``cost.basis``)."""

    ALLOWED = "allowed"
    PAID = "paid"


def _decimal(value: Decimal | float | int | str, name: str) -> Decimal:
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError as exc:
        raise ContractError(f"{name}: {value!r} is not a number", field=name) from exc
    if not result.is_finite():
        raise ContractError(f"{name}: {value!r} is not a finite number", field=name)
    return result


def _enum(kind: type[_E], value: _E | str, name: str) -> _E:
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in kind)
        raise ContractError(f"{name}: {value!r} is not one of {allowed}", field=name) from exc


@dataclass(frozen=True)
class Scope:
    """Which employer groups and contract entities a contract covers (``None`` = all)."""

    groups: frozenset[str] | None = None
    entities: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for name in ("groups", "entities"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, frozenset(str(v) for v in value))


@dataclass(frozen=True)
class AttributionRules:
    """``attribution``: method, window, lookback, voluntary alignment and code lists.

    ``primary_care_codes`` overrides the shipped HCPCS list: a path to a CSV (first column,
    or a column named ``hcpcs_code``) or the codes themselves.  ``primary_care_specialties``
    and ``specialist_specialties`` override the shipped CMS specialty lists
    (``engine/data/specialties.csv``); ``None`` uses the shipped lists.
    """

    method: AttributionMethod = AttributionMethod.PLURALITY_PRIMARY_CARE
    window: AttributionWindow = AttributionWindow.PROSPECTIVE
    lookback_months: int = 12
    use_voluntary_alignment: bool = True
    primary_care_codes: str | frozenset[str] | None = None
    primary_care_specialties: frozenset[str] | None = None
    specialist_specialties: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", _enum(AttributionMethod, self.method, "attribution.method"))
        object.__setattr__(self, "window", _enum(AttributionWindow, self.window, "attribution.window"))
        if not 1 <= self.lookback_months <= 120:
            raise ContractError(
                "attribution.lookback_months: must be between 1 and 120", field="attribution.lookback_months"
            )
        for name in ("primary_care_specialties", "specialist_specialties"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, frozenset(str(v) for v in value))
        if self.primary_care_codes is not None and not isinstance(self.primary_care_codes, str):
            object.__setattr__(self, "primary_care_codes", frozenset(str(v) for v in self.primary_care_codes))


@dataclass(frozen=True)
class Truncation:
    """``cost.truncation``: cap each member's annual cost at ``amount`` dollars, or at the
    ``percentile`` (a fraction in (0, 1]) of the population's per-member cost."""

    amount: Decimal | None = None
    percentile: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.amount is None) == (self.percentile is None):
            raise ContractError(
                "cost.truncation: give exactly one of amount or percentile", field="cost.truncation"
            )
        if self.amount is not None:
            amount = _decimal(self.amount, "cost.truncation.amount")
            if amount < 0 or amount * 100 != (amount * 100).to_integral_value():
                raise ContractError(
                    "cost.truncation.amount: must be a non-negative dollar amount in whole cents",
                    field="cost.truncation.amount",
                )
            object.__setattr__(self, "amount", amount)
        if self.percentile is not None:
            pct = _decimal(self.percentile, "cost.truncation.percentile")
            if not 0 < pct <= 1:
                raise ContractError(
                    "cost.truncation.percentile: must be a fraction in (0, 1], e.g. 0.99",
                    field="cost.truncation.percentile",
                )
            object.__setattr__(self, "percentile", pct)

    @property
    def amount_cents(self) -> int | None:
        """The fixed cap in integer cents (``None`` for a percentile)."""
        return None if self.amount is None else int(self.amount * 100)


@dataclass(frozen=True)
class CostRules:
    """``cost``: basis, pharmacy, completion factor, truncation, exclusions, member months."""

    basis: CostBasis = CostBasis.ALLOWED
    include_pharmacy: bool = False
    completion_factor: Decimal = Decimal(1)
    truncation: Truncation | None = None
    exclude_hcpcs: frozenset[str] = field(default_factory=frozenset)
    member_months: MemberMonthRule = MemberMonthRule.ANY_DAY

    def __post_init__(self) -> None:
        object.__setattr__(self, "basis", _enum(CostBasis, self.basis, "cost.basis"))
        object.__setattr__(
            self, "member_months", _enum(MemberMonthRule, self.member_months, "cost.member_months")
        )
        factor = _decimal(self.completion_factor, "cost.completion_factor")
        if factor < 1:
            raise ContractError("cost.completion_factor: must be >= 1", field="cost.completion_factor")
        object.__setattr__(self, "completion_factor", factor)
        object.__setattr__(self, "exclude_hcpcs", frozenset(str(c) for c in self.exclude_hcpcs))


@dataclass(frozen=True)
class RiskRules:
    """``risk``: adjust the benchmark by the risk ratio, cap its growth, renormalise scores.

    Risk scores are not money, so ``growth_cap`` is a float (``0.03`` caps the ratio at 1.03).
    """

    adjust: bool = True
    growth_cap: float | None = None
    renormalize: bool = False

    def __post_init__(self) -> None:
        if self.growth_cap is not None:
            cap = float(self.growth_cap)
            if not 0 <= cap < 10:
                raise ContractError("risk.growth_cap: must be a fraction >= 0", field="risk.growth_cap")
            object.__setattr__(self, "growth_cap", cap)


@dataclass(frozen=True)
class ContractRules:
    """Everything the kernels need from one contract: its id, period, scope and sections.

    ``risk_period`` / ``baseline_risk_period`` are the ``risk_scores.period`` labels of the
    performance and baseline scores (defaults: the period's start year, and that year - 1)."""

    contract_id: str
    period: Period
    scope: Scope = field(default_factory=Scope)
    attribution: AttributionRules = field(default_factory=AttributionRules)
    cost: CostRules = field(default_factory=CostRules)
    risk: RiskRules = field(default_factory=RiskRules)
    risk_period: str | None = None
    baseline_risk_period: str | None = None

    @property
    def performance_label(self) -> str:
        return self.risk_period or str(self.period.start.year)

    @property
    def baseline_label(self) -> str:
        return self.baseline_risk_period or str(self.period.start.year - 1)
