"""The aggregate inputs the contract kinds settle from: small frozen dataclasses.

The kernels (attribution, member months, cost, risk) reduce claims to one
:class:`EntityAggregates` per contract × entity (or contract × entity × employer group when
the contract settles per cell).  A what-if builds the same objects from a user's table
(:mod:`settle.engine.whatif`).  Every kind is a pure function of these and the terms.

Units (the boundary rules):

* money is **integer cents** (``*_cents``); dollar figures in terms are ``Decimal`` dollars;
* member months are an exact ``Decimal`` (fractional under the ``partial`` rule);
* risk scores and quality scores are exact ``Decimal`` (convert a float with
  ``Decimal(str(x))``, never ``Decimal(x)``);
* interest inputs are **cent-days**: Σ over payments of ``paid_cents × days``, where ``days``
  counts from the day after the paid date through the settlement (or return) date
  (:func:`settle.engine.contracts.interest.cent_days`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["EntityAggregates", "GroupWeight", "Overrides", "PoolFunding"]


@dataclass(frozen=True)
class GroupWeight:
    """One employer group's member months within an entity: the weight that splits an entity's
    result across groups in the ledger (largest remainder)."""

    group_id: str
    member_months: Decimal


@dataclass(frozen=True)
class Overrides:
    """Per-entity overrides of shared-savings terms (a what-if row's optional columns).

    ``loss_relief_cents`` is removed from a shared loss after the caps (e.g. CMS's
    extreme-and-uncontrollable-circumstances adjustment); ``loss_cap_cents`` caps the loss
    at an amount (e.g. a revenue-based loss limit)."""

    min_savings_rate: Decimal | None = None
    min_loss_rate: Decimal | None = None
    loss_relief_cents: int = 0
    loss_cap_cents: int | None = None


@dataclass(frozen=True)
class PoolFunding:
    """What funded one withhold or bonus pool (one employer group × entity).

    ``base_cents``: the payments the rate applies to (withhold: paid amounts to the entity's
    providers; bonus pool: the prefund base claims).  ``cent_days``: Σ ``paid_cents × days``
    of the same payments, days from the day after each paid date through the settlement or
    return date.  ``member_months`` is informational (the pool's cell)."""

    group_id: str | None
    base_cents: int
    cent_days: int = 0
    member_months: Decimal = Decimal(0)


@dataclass(frozen=True)
class EntityAggregates:
    """One entity's (or entity × group cell's) figures for one contract.

    ``benchmark_cents`` is the benchmark expenditure when it is given directly (a what-if);
    otherwise the benchmark is computed from the terms' PMPM × ``member_months`` (and
    ``baseline_pmpm`` for a ``computed`` benchmark).  ``risk_score`` and
    ``baseline_risk_score`` are member-month-weighted means for risk adjustment.
    ``groups`` lists the employer groups whose members make up the entity's figures, with
    their member months (the ledger's split weights); empty when the cell is one group (then
    ``group_id`` is set) or when there is no group (a what-if).
    """

    entity_id: str
    member_months: Decimal
    actual_cents: int = 0
    attributed_members: int = 0
    group_id: str | None = None
    benchmark_cents: int | None = None
    baseline_pmpm: Decimal | None = None
    risk_score: Decimal | None = None
    baseline_risk_score: Decimal | None = None
    quality_score: Decimal | None = None
    met_quality_standard: bool = True
    premium_cents: int | None = None
    tier_member_months: tuple[tuple[Decimal, Decimal], ...] = ()
    groups: tuple[GroupWeight, ...] = ()
    overrides: Overrides = field(default_factory=Overrides)

    def __post_init__(self) -> None:
        if self.member_months < 0:
            raise ValueError("member_months must not be negative")
        if self.quality_score is not None and not (0 <= self.quality_score <= 1):
            raise ValueError("quality_score must be between 0 and 1")
