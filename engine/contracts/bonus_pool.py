"""``bonus_pool``: an employer-prefunded shared-savings bonus per employer × entity.

The employer prefunds ``prefund_rate`` × the prefund base (``attributed_claims`` or
``participating_providers``; the kernels sum the base) into a pool per group × entity, which
earns simple interest (actual/365) through ``return_date``.  At settlement:

1. target PMPM: ``target.pmpm``, or ``baseline_pmpm × (1 + trend)`` (rounded to the cent);
   risk-adjusted by the capped risk ratio when the contract's ``risk.adjust`` is true;
2. target expenditure = target PMPM × member months; savings = target − actual;
3. the entity earns when savings > 0 **and** it met its quality standard:
   earned = min(``provider_share`` × savings, ``max_fraction_of_pool`` × pool,
   ``max_amount``, pool) — never more than the pool holds;
4. the earned total is drawn from the pools in proportion to their funding (largest
   remainder), so each pool pays at most what it holds; each pool returns funded − earned +
   all its interest to its employer on the return date.

The employer keeps the rest of the savings through lower claims (no entry: nothing moves).
Payment stream ``tcoc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from settle.engine.contracts.common import Settlement, risk_ratio
from settle.engine.contracts.inputs import EntityAggregates, PoolFunding
from settle.engine.contracts.models import BonusPoolContract, TargetPmpm
from settle.engine.contracts.pools import fund_pools, pool_entries, pool_key
from settle.engine.errors import AggregatesError
from settle.engine.ledger import LedgerEntry
from settle.engine.money import allocate, cents_to_decimal
from settle.engine.statement import StatementBuilder

__all__ = ["settle_bonus_pool"]


def settle_bonus_pool(
    contract: BonusPoolContract,
    agg: EntityAggregates,
    pools: Sequence[PoolFunding],
    *,
    period: str | None = None,
) -> Settlement:
    """Settle an entity's bonus pools (one per employer group, or the one cell's pool)."""
    terms = contract.terms
    if not pools:
        raise AggregatesError(f"contract {contract.id}: entity {agg.entity_id} has no bonus pool to settle.")
    sb = StatementBuilder(contract.id, contract.kind, agg.entity_id, agg.group_id, period, "tcoc")
    sb.rate("prefund_rate", f"Prefund rate on {terms.prefund_base} (terms)", terms.prefund_rate)
    sb.rate("interest_rate", "Annual interest rate, simple, actual/365 (terms)", terms.interest_rate)
    sb.text("return_date", "Return date (interest through)", terms.return_date.isoformat(), "date")
    funded = fund_pools(
        sb,
        pools,
        pool_rate=terms.prefund_rate,
        interest_rate=terms.interest_rate,
        base_label="Prefund base claims",
    )
    pool_total = sb.cents("pool_total", "Pool total (prefunded)", sum(p.funded_cents for p in funded))

    sb.number("member_months", "Member months", agg.member_months, "member_months")
    if isinstance(terms.target, TargetPmpm):
        pmpm = sb.money("target_pmpm", "Target PMPM (terms)", terms.target.pmpm, "usd_pmpm")
    else:
        base = sb.money("baseline_pmpm", "Baseline PMPM (terms)", terms.target.baseline_pmpm, "usd_pmpm")
        pmpm = sb.money(
            "target_pmpm",
            f"Target PMPM = baseline × (1 + {terms.target.trend})",
            cents_to_decimal(base) * (1 + terms.target.trend),
            "usd_pmpm",
        )
    if contract.risk.adjust:
        ratio = risk_ratio(sb, contract.risk, agg, contract.id)
        pmpm = sb.money(
            "risk_adjusted_target_pmpm",
            "Risk-adjusted target PMPM = target × risk ratio",
            cents_to_decimal(pmpm) * ratio,
            "usd_pmpm",
        )
    target = sb.money(
        "target_expenditure",
        "Target expenditure = target PMPM × member months",
        cents_to_decimal(pmpm) * agg.member_months,
    )
    actual = sb.cents("actual_expenditure", "Actual expenditure", agg.actual_cents)
    savings = sb.cents("savings", "Savings = target − actual", target - actual)
    met = sb.flag("met_quality_standard", "Quality standard met", agg.met_quality_standard)
    earned = 0
    if sb.flag("eligible", "Eligible (savings > 0 and quality standard met)", savings > 0 and met):
        earned = _earned(sb, contract, savings, pool_total)
    else:
        sb.cents("earned_total", "Earned by the entity", 0)
    parts = allocate(earned, [p.funded_cents for p in funded]) if funded else []
    entries: list[LedgerEntry] = []
    total_returned = 0
    for pool, paid in zip(funded, parts, strict=True):
        k = pool_key(pool.group_id)
        sb.cents(f"earned[{k}]", f"Earned from this pool (largest remainder by funding, group {k})", paid)
        total_returned += sb.cents(
            f"returned[{k}]",
            f"Returned = funded − earned + interest (group {k})",
            pool.funded_cents - paid + pool.interest_cents,
        )
        entries += pool_entries(
            pool,
            paid,
            contract_id=contract.id,
            period=period,
            entity_id=agg.entity_id,
            funding_reason="bonus_prefund",
        )
    sb.cents("returned_total", "Total returned to employers (unearned + interest)", total_returned)
    return Settlement(sb.build(earned), tuple(entries))


def _earned(sb: StatementBuilder, contract: BonusPoolContract, savings: int, pool_total: int) -> int:
    terms = contract.terms
    share = sb.money(
        "provider_share_amount",
        f"Provider share = {terms.provider_share} × savings",
        terms.provider_share * cents_to_decimal(savings),
    )
    limits = [share, pool_total]
    if terms.max_fraction_of_pool is not None:
        limits.append(
            sb.money(
                "max_from_pool",
                f"Limit = {terms.max_fraction_of_pool} × pool",
                terms.max_fraction_of_pool * cents_to_decimal(pool_total),
            )
        )
    if terms.max_amount is not None:
        limits.append(sb.money("max_amount", "Limit: maximum amount (terms)", Decimal(terms.max_amount)))
    return sb.cents("earned_total", "Earned = min(provider share, limits, pool)", min(limits))
