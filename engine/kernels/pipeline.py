"""The kernels of one contract chained together, per shard, in two phases.

The cluster runs, for every shard of members (all of a member's rows in one shard):

1. :func:`prepare_shard`: member months, attribution, claim costs (with rejects), the
   per-member completed totals and the shard's :class:`~.risk.RiskBasis`;
2. once over all shards: :func:`~.member_costs.truncation_threshold` of the concatenated
   totals and the sum of the risk bases (only these two figures cross shards);
3. :func:`finish_shard`: member costs with truncation and risk.

Concatenating the shards' results gives exactly the single-shard result, which is what
:func:`run_contract` computes for a whole population in one process (a notebook, a test, a
benchmark).  :func:`~.stratify.aggregate` then reduces member costs to cells and entities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from settle.engine.kernels.attribution import attribute
from settle.engine.kernels.cost import ClaimCosts, claim_costs
from settle.engine.kernels.frames import Frame
from settle.engine.kernels.member_costs import member_cost_totals, member_costs, truncation_threshold
from settle.engine.kernels.member_months import member_months
from settle.engine.kernels.risk import RiskBasis, risk_basis, with_risk
from settle.engine.kernels.rules import ContractRules
from settle.engine.kernels.stratify import Aggregates, aggregate

__all__ = ["ContractResult", "PreparedShard", "ShardInputs", "finish_shard", "prepare_shard", "run_contract"]


@dataclass(frozen=True)
class ShardInputs:
    """The canonical tables of one shard of members (the roster whole)."""

    eligibility: Frame
    medical_claim: Frame
    roster: Frame
    pharmacy_claim: Frame | None = None
    risk_scores: Frame | None = None
    voluntary_alignment: Frame | None = None


@dataclass(frozen=True)
class PreparedShard:
    """Phase-1 results of one shard."""

    attribution: pl.DataFrame
    member_months: pl.DataFrame
    claim_costs: ClaimCosts
    cost_totals: pl.DataFrame
    risk_basis: RiskBasis


@dataclass(frozen=True)
class ContractResult:
    """A contract's kernel outputs over a whole population."""

    attribution: pl.DataFrame
    member_costs: pl.DataFrame
    rejects: pa.Table
    rejected_lines: int
    rejected_paid_cents: int
    aggregates: Aggregates


def prepare_shard(
    inputs: ShardInputs, rules: ContractRules, stratifiers: Sequence[str] = ()
) -> PreparedShard:
    """Phase 1 on one shard."""
    mm = member_months(
        inputs.eligibility, rules.period, rules.cost.member_months, rules.scope.groups, stratifiers
    )
    attribution = attribute(
        inputs.medical_claim,
        inputs.roster,
        inputs.eligibility,
        rules.period,
        rules.attribution,
        rules.scope,
        inputs.voluntary_alignment,
    )
    costs = claim_costs(
        inputs.medical_claim, inputs.eligibility, rules.period, rules.cost, rules.scope, inputs.pharmacy_claim
    )
    basis = (
        risk_basis(mm, inputs.risk_scores, rules.performance_label)
        if inputs.risk_scores is not None
        else RiskBasis()
    )
    return PreparedShard(attribution, mm, costs, member_cost_totals(mm, costs.costs, rules.cost), basis)


def finish_shard(
    prepared: PreparedShard,
    inputs: ShardInputs,
    rules: ContractRules,
    truncation_cents: int | None,
    basis: RiskBasis,
    stratifiers: Sequence[str] = (),
) -> pl.DataFrame:
    """Phase 2 on one shard: member costs with the population-wide cap and risk basis."""
    rows = member_costs(
        prepared.member_months,
        prepared.claim_costs.costs,
        prepared.attribution,
        rules.cost,
        truncation_cents,
        stratifiers,
    )
    if inputs.risk_scores is None:
        return rows
    return with_risk(rows, inputs.risk_scores, rules.performance_label, rules.risk, basis).sort(
        "member_id", "group_id"
    )


def run_contract(
    inputs: ShardInputs, rules: ContractRules, stratifiers: Sequence[str] = ()
) -> ContractResult:
    """Both phases over one shard that is the whole population, then the aggregates."""
    prepared = prepare_shard(inputs, rules, stratifiers)
    cap = truncation_threshold(rules.cost.truncation, [prepared.cost_totals])
    rows = finish_shard(prepared, inputs, rules, cap, prepared.risk_basis, stratifiers)
    return ContractResult(
        attribution=prepared.attribution,
        member_costs=rows,
        rejects=prepared.claim_costs.rejects,
        rejected_lines=prepared.claim_costs.rejected_lines,
        rejected_paid_cents=prepared.claim_costs.rejected_paid_cents,
        aggregates=aggregate(rows, rules.contract_id),
    )
