"""Pieces every contract kind shares: the settlement result, quality, risk ratio, ledger split.

* :class:`Settlement` — a statement and its ledger entries.
* :func:`risk_ratio` — publishes performance / baseline risk, capped at ``1 + growth_cap``
  when the contract's ``risk.growth_cap`` is set.  Only growth is capped; a falling ratio is
  used as it is (the MSSP rule).
* :func:`entity_flow` — ledger entries for an entity-level amount between the payer side and
  the entity: split across the entity's employer groups by member months (largest
  remainder) when the aggregates list groups, else one entry with the cell's group (or the
  ``payer`` account when there is none).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from settle.engine.contracts.inputs import EntityAggregates
from settle.engine.contracts.models import Period, RiskAdjustment
from settle.engine.errors import AggregatesError, RiskDataError
from settle.engine.ledger import LedgerEntry, entity_account, group_account, split_across_groups, transfer
from settle.engine.statement import Statement, StatementBuilder

__all__ = ["Settlement", "entity_flow", "period_text", "require_quality_score", "risk_ratio"]


@dataclass(frozen=True)
class Settlement:
    """One settled contract × entity (× group): its statement and its ledger entries."""

    statement: Statement
    entries: tuple[LedgerEntry, ...]


def period_text(period: Period | None) -> str | None:
    """``start/end`` in ISO dates, or None."""
    return None if period is None else f"{period.start.isoformat()}/{period.end.isoformat()}"


def require_quality_score(agg: EntityAggregates, contract_id: str, why: str) -> Decimal:
    """The entity's quality score, or an :class:`AggregatesError` saying why it is needed."""
    if agg.quality_score is None:
        raise AggregatesError(
            f"contract {contract_id}: entity {agg.entity_id} has no quality score, which {why}."
        )
    return agg.quality_score


def risk_ratio(
    sb: StatementBuilder, risk: RiskAdjustment, agg: EntityAggregates, contract_id: str
) -> Decimal:
    """Publish and return the (capped) risk ratio; 1 when the contract does not risk-adjust."""
    if not risk.adjust:
        return Decimal(1)
    if agg.member_months == 0:
        # A cell with no attributed member months (a funded pool whose entity has no members
        # in the group) has nothing to risk-adjust: its target expenditure is zero anyway.
        sb.text("risk_ratio_rule", "Risk ratio", "1: no attributed member months to score")
        return Decimal(1)
    if agg.risk_score is None or agg.baseline_risk_score is None or agg.baseline_risk_score <= 0:
        raise RiskDataError(
            f"contract {contract_id}: entity {agg.entity_id} lacks a performance or a positive baseline "
            "risk score, which risk.adjust: true needs."
        )
    # The scores are member-month-weighted means (quotients): published rounded like any quotient,
    # and the ratio is taken of the published figures, so the statement can be followed by hand.
    score = sb.ratio(
        "risk_score", "Performance-period risk score (member-month weighted)", agg.risk_score, "score"
    )
    baseline = sb.ratio(
        "baseline_risk_score", "Baseline risk score (member-month weighted)", agg.baseline_risk_score, "score"
    )
    if baseline <= 0:
        raise RiskDataError(
            f"contract {contract_id}: entity {agg.entity_id}'s baseline risk score rounds to zero, "
            "which risk.adjust: true cannot divide by."
        )
    ratio = sb.ratio("risk_ratio", "Risk ratio = performance / baseline risk", score / baseline)
    if risk.growth_cap is not None:
        ceiling = 1 + risk.growth_cap
        ratio = sb.rate(
            "risk_ratio_capped",
            f"Risk ratio capped at 1 + growth cap ({ceiling})",
            min(ratio, ceiling),
            "ratio",
        )
    return ratio


def entity_flow(
    amount_cents: int,
    agg: EntityAggregates,
    *,
    contract_id: str,
    period: str | None,
    reason_paid: str,
    reason_owed: str,
) -> list[LedgerEntry]:
    """Entries moving ``amount_cents`` from the payer side to the entity (negative: back).

    Split across ``agg.groups`` by member months when there are groups; the parts add up to
    the amount exactly."""
    reason = reason_paid if amount_cents >= 0 else reason_owed
    parts: list[tuple[str | None, int]] = [(agg.group_id, amount_cents)]
    if agg.groups:
        weights = [(g.group_id, g.member_months) for g in agg.groups]
        parts = [(g, c) for g, c in split_across_groups(amount_cents, weights)]
    entries: list[LedgerEntry] = []
    for group_id, cents in parts:
        entries += transfer(
            group_account(group_id),
            entity_account(agg.entity_id),
            cents,
            contract_id=contract_id,
            period=period,
            reason=reason,
            entity_id=agg.entity_id,
            group_id=group_id,
        )
    return entries
