"""``withhold``: a quality withhold pool per employer × entity, earned back on quality.

A ``withhold_rate`` of each payment to the entity's providers (for members of the group) is
held in a pool that earns simple interest (actual/365, from the day after each paid date
through ``settlement_date``).  At settlement:

* earned fraction, from the entity's quality score: ``earn_back: {floor, target}`` gives 0
  below the floor, 1 at or above the target, and (score − floor) / (target − floor) between
  (a quotient, published to ``RATE_PLACES`` places); ``earn_back: {tiers}`` gives the
  ``earned_fraction`` of the highest tier whose ``min_score`` the score reaches (0 below the
  first);
* per pool: earned = funded × earned fraction (rounded once); returned to the employer =
  funded − earned + all the interest.

The statement's final amount is the total earned (paid to the entity).  Payment stream
``p4p``.  See :mod:`.pools` for the per-pool steps and the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from settle.engine.contracts.common import Settlement, require_quality_score
from settle.engine.contracts.inputs import EntityAggregates, PoolFunding
from settle.engine.contracts.models import EarnBackLinear, EarnBackTiers, WithholdContract
from settle.engine.contracts.pools import fund_pools, pool_entries, pool_key
from settle.engine.errors import AggregatesError
from settle.engine.ledger import LedgerEntry
from settle.engine.money import cents_to_decimal
from settle.engine.statement import StatementBuilder

__all__ = ["earned_fraction", "settle_withhold"]


def earned_fraction(
    sb: StatementBuilder, earn_back: EarnBackLinear | EarnBackTiers, score: Decimal
) -> Decimal:
    """Publish and return the fraction of the pool the quality score earns back."""
    if isinstance(earn_back, EarnBackLinear):
        sb.rate(
            "earn_back_floor", "Earn-back floor (score earning nothing below it)", earn_back.floor, "score"
        )
        sb.rate("earn_back_target", "Earn-back target (score earning everything)", earn_back.target, "score")
        if score <= earn_back.floor:
            return sb.rate("earned_fraction", "Earned fraction (score at or below floor)", Decimal(0))
        if score >= earn_back.target:
            return sb.rate("earned_fraction", "Earned fraction (score at or above target)", Decimal(1))
        return sb.ratio(
            "earned_fraction",
            "Earned fraction = (score − floor) / (target − floor)",
            (score - earn_back.floor) / (earn_back.target - earn_back.floor),
            "rate",
        )
    reached = [t for t in earn_back.tiers if score >= t.min_score]
    if not reached:
        return sb.rate("earned_fraction", "Earned fraction (score below the first tier)", Decimal(0))
    tier = reached[-1]
    return sb.rate(
        "earned_fraction", f"Earned fraction (tier from score {tier.min_score})", tier.earned_fraction
    )


def settle_withhold(
    contract: WithholdContract,
    agg: EntityAggregates,
    pools: Sequence[PoolFunding],
    *,
    period: str | None = None,
) -> Settlement:
    """Settle an entity's withhold pools (one per employer group, or the one cell's pool)."""
    terms = contract.terms
    if not pools:
        raise AggregatesError(
            f"contract {contract.id}: entity {agg.entity_id} has no withhold pool to settle."
        )
    sb = StatementBuilder(contract.id, contract.kind, agg.entity_id, agg.group_id, period, "p4p")
    sb.rate("withhold_rate", "Withhold rate (terms)", terms.withhold_rate)
    sb.rate("interest_rate", "Annual interest rate, simple, actual/365 (terms)", terms.interest_rate)
    sb.text(
        "settlement_date", "Settlement date (interest through)", terms.settlement_date.isoformat(), "date"
    )
    funded = fund_pools(
        sb,
        pools,
        pool_rate=terms.withhold_rate,
        interest_rate=terms.interest_rate,
        base_label="Payments subject to withhold",
    )
    score = require_quality_score(agg, contract.id, "a withhold's earn-back needs")
    sb.rate("quality_score", "Quality score", score, "score")
    fraction = earned_fraction(sb, terms.earn_back, score)
    entries: list[LedgerEntry] = []
    total_earned = total_returned = 0
    for pool in funded:
        k = pool_key(pool.group_id)
        earned = sb.money(
            f"earned[{k}]",
            f"Earned = funded × earned fraction (group {k})",
            cents_to_decimal(pool.funded_cents) * fraction,
        )
        returned = sb.cents(
            f"returned[{k}]",
            f"Returned to employer = funded − earned + interest (group {k})",
            pool.funded_cents - earned + pool.interest_cents,
        )
        total_earned += earned
        total_returned += returned
        entries += pool_entries(
            pool,
            earned,
            contract_id=contract.id,
            period=period,
            entity_id=agg.entity_id,
            funding_reason="withhold_funding",
        )
    sb.cents("funded_total", "Total withheld", sum(p.funded_cents for p in funded))
    sb.cents("interest_total", "Total interest", sum(p.interest_cents for p in funded))
    sb.cents("returned_total", "Total returned to employers (unearned + interest)", total_returned)
    sb.cents("earned_total", "Total earned by the entity", total_earned)
    return Settlement(sb.build(total_earned), tuple(entries))
