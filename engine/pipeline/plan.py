"""Contract plans: each validated contract document turned into the kernels' rules.

A :class:`ContractPlan` pairs the contract model (its terms, for settlement) with the
kernels' :class:`~settle.engine.kernels.rules.ContractRules` (period, scope, attribution,
cost and risk rules) and the labels that pick its quality and risk rows.  A contract without
its own ``period`` uses the job's.  A ``primary_care_codes`` path is relative to the job
document's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from settle.engine.contracts.models import Contract, parse_contracts
from settle.engine.job import JobDocument, Period, resolve_location
from settle.engine.kernels.rules import (
    AttributionRules,
    ContractRules,
    CostRules,
    RiskRules,
    Scope,
    Truncation,
)

__all__ = ["ContractPlan", "contract_plans"]


@dataclass(frozen=True)
class ContractPlan:
    """One contract, ready for the kernels and for settlement."""

    contract: Contract
    rules: ContractRules
    quality_period: str

    @property
    def contract_id(self) -> str:
        return self.contract.id

    @property
    def period(self) -> Period:
        return self.rules.period

    @property
    def needs_population_pass(self) -> bool:
        """Whether a first pass over every shard is needed (percentile truncation or
        renormalised risk scores depend on the whole population)."""
        truncation = self.rules.cost.truncation
        return (truncation is not None and truncation.percentile is not None) or self.rules.risk.renormalize


def _rules(contract: Contract, job: JobDocument) -> ContractRules:
    period = contract.period if contract.period is not None else job.period
    scope = Scope(
        groups=None if contract.scope.groups == "all" else frozenset(contract.scope.groups),
        entities=None if contract.scope.entities == "all" else frozenset(contract.scope.entities),
    )
    att = contract.attribution
    codes = att.primary_care_codes
    attribution = AttributionRules(
        method=att.method,  # type: ignore[arg-type]
        window=att.window,  # type: ignore[arg-type]
        lookback_months=att.lookback_months,
        use_voluntary_alignment=att.use_voluntary_alignment,
        primary_care_codes=resolve_location(codes, job.base_dir) if codes else None,
    )
    cost = contract.cost
    truncation: Truncation | None = None
    if cost.truncation is not None:
        raw: Any = cost.truncation
        truncation = Truncation(
            amount=getattr(raw, "amount", None), percentile=getattr(raw, "percentile", None)
        )
    cost_rules = CostRules(
        basis=cost.basis,  # type: ignore[arg-type]
        include_pharmacy=cost.include_pharmacy,
        completion_factor=Decimal(cost.completion_factor),
        truncation=truncation,
        exclude_hcpcs=frozenset(cost.exclude_hcpcs),
        member_months=cost.member_months,  # type: ignore[arg-type]
    )
    risk = RiskRules(
        adjust=contract.risk.adjust,
        growth_cap=None if contract.risk.growth_cap is None else float(contract.risk.growth_cap),
        renormalize=contract.risk.renormalize,
    )
    return ContractRules(
        contract_id=contract.id,
        period=period,
        scope=scope,
        attribution=attribution,
        cost=cost_rules,
        risk=risk,
    )


def contract_plans(job: JobDocument) -> list[ContractPlan]:
    """Validate the job's contract documents and plan each (errors name the field)."""
    source = job.contracts if isinstance(job.contracts, str) else "contracts"
    contracts = parse_contracts(job.contract_documents(), source)
    return [ContractPlan(c, _rules(c, job), c.quality_period_for(job.period.start)) for c in contracts]
