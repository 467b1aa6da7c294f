"""``population_payment``: a population-based PMPM payment (IHP's PBP), with a quality holdback.

1. Gross payment = ``pmpm`` × member months; or, with ``risk_tiers``, Σ over tiers of the
   tier's PMPM × the member months of members whose risk score falls in the tier (the tier
   whose ``min_risk`` is the highest one the score reaches).  The kernels give those member
   months in ``EntityAggregates.tier_member_months`` as ``((min_risk, member_months), ...)``;
   when they are absent, every member month takes the tier of the entity's mean
   ``risk_score``.  Each tier's payment is rounded once; the gross is their exact sum.
2. Holdback = gross × ``quality_holdback`` (rounded once); paid now = gross − holdback.
3. The holdback is released when the quality score reaches ``quality_target``, else the payer
   keeps it (it was never paid).

Final amount = paid now + released.  Ledger: group → entity (``population_payment`` and
``quality_holdback_release``), split across the entity's groups by member months.  Payment
stream ``ccf`` (``ccf-with-risk`` with risk tiers).
"""

from __future__ import annotations

from decimal import Decimal

from settle.engine.contracts.common import Settlement, entity_flow, require_quality_score
from settle.engine.contracts.inputs import EntityAggregates
from settle.engine.contracts.models import PopulationPaymentContract, RiskTier
from settle.engine.errors import AggregatesError
from settle.engine.money import cents_to_decimal
from settle.engine.statement import StatementBuilder

__all__ = ["settle_population_payment", "tier_for"]


def tier_for(risk_score: Decimal, tiers: list[RiskTier]) -> RiskTier:
    """The tier a risk score falls in: the highest ``min_risk`` it reaches (the first tier is 0)."""
    return [t for t in tiers if risk_score >= t.min_risk][-1] if risk_score >= tiers[0].min_risk else tiers[0]


def settle_population_payment(
    contract: PopulationPaymentContract, agg: EntityAggregates, *, period: str | None = None
) -> Settlement:
    """Settle an entity's (or cell's) population-based payment."""
    terms = contract.terms
    stream = "ccf" if terms.risk_tiers is None else "ccf-with-risk"
    sb = StatementBuilder(contract.id, contract.kind, agg.entity_id, agg.group_id, period, stream)
    mm = sb.number("member_months", "Attributed member months", agg.member_months, "member_months")
    if terms.pmpm is not None:
        sb.money("pmpm", "PMPM (terms)", terms.pmpm, "usd_pmpm")
        gross = sb.money("gross_payment", "Gross payment = PMPM × member months", terms.pmpm * Decimal(mm))
    else:
        gross = _tiered(sb, contract, agg)
    paid_now = gross
    released = 0
    if terms.quality_holdback:
        holdback = sb.money(
            "holdback",
            f"Quality holdback = {terms.quality_holdback} × gross",
            terms.quality_holdback * cents_to_decimal(gross),
        )
        paid_now = sb.cents("paid_now", "Paid now = gross − holdback", gross - holdback)
        assert terms.quality_target is not None
        score = require_quality_score(agg, contract.id, "a quality holdback needs")
        sb.rate("quality_score", "Quality score", score, "score")
        sb.rate("quality_target", "Quality target (terms)", terms.quality_target, "score")
        met = sb.flag(
            "quality_target_met", "Quality target met (score ≥ target)", score >= terms.quality_target
        )
        released = sb.cents(
            "holdback_released", "Holdback released (kept by the payer if not met)", holdback if met else 0
        )
    amount = sb.cents("total_payment", "Total payment = paid now + released holdback", paid_now + released)
    entries = [
        *entity_flow(
            paid_now,
            agg,
            contract_id=contract.id,
            period=period,
            reason_paid="population_payment",
            reason_owed="population_payment",
        ),
        *entity_flow(
            released,
            agg,
            contract_id=contract.id,
            period=period,
            reason_paid="quality_holdback_release",
            reason_owed="quality_holdback_release",
        ),
    ]
    return Settlement(sb.build(amount), tuple(entries))


def _tiered(sb: StatementBuilder, contract: PopulationPaymentContract, agg: EntityAggregates) -> int:
    tiers = contract.terms.risk_tiers
    assert tiers is not None
    by_tier = {t.min_risk: Decimal(0) for t in tiers}
    if agg.tier_member_months:
        for min_risk, months in agg.tier_member_months:
            if min_risk not in by_tier:
                raise AggregatesError(
                    f"contract {contract.id}: entity {agg.entity_id} has member months for a risk tier from "
                    f"{min_risk}, which the terms do not define (tiers from {sorted(by_tier)})."
                )
            by_tier[min_risk] += months
        if sum(by_tier.values()) != agg.member_months:
            raise AggregatesError(
                f"contract {contract.id}: entity {agg.entity_id}'s member months by risk tier add up to "
                f"{sum(by_tier.values())}, not its {agg.member_months} member months."
            )
    else:
        if agg.risk_score is None:
            raise AggregatesError(
                f"contract {contract.id}: entity {agg.entity_id} has neither member months by risk tier nor "
                "a risk score, which risk_tiers need."
            )
        sb.rate("risk_score", "Entity risk score (all member months take its tier)", agg.risk_score, "score")
        by_tier[tier_for(agg.risk_score, tiers).min_risk] = agg.member_months
    gross = 0
    for t in tiers:
        mm = sb.number(
            f"member_months[{t.min_risk}]",
            f"Member months in tier from risk {t.min_risk}",
            by_tier[t.min_risk],
            "member_months",
        )
        gross += sb.money(
            f"tier_payment[{t.min_risk}]",
            f"Tier payment = {t.pmpm} PMPM × member months",
            t.pmpm * Decimal(mm),
        )
    return sb.cents("gross_payment", "Gross payment = Σ tier payments", gross)
