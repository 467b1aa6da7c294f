"""Funded pools (withhold, bonus pool): funding, interest, payout, return — and their ledger.

One pool per employer group × entity.  For each pool, on the statement (step names carry the
pool's group, e.g. ``funded[G1]``):

* funded = pool rate × base (rounded once);
* interest = interest rate × pool rate × cent-days / 365 / 100 (rounded once; see
  :mod:`.interest`);
* paid to the entity (the kind decides), returned = funded − paid + interest (exact cents).

Ledger per pool: group → pool (``<kind>_funding``), interest account → pool (``interest``),
pool → entity (``earned``), pool → group (``unearned_return`` and ``interest_return``).  The
pool's balance is then exactly 0: funded + interest = paid + returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from settle.engine.contracts.inputs import PoolFunding
from settle.engine.contracts.interest import simple_interest_dollars
from settle.engine.ledger import (
    LedgerEntry,
    entity_account,
    group_account,
    interest_account,
    pool_account,
    transfer,
)
from settle.engine.money import cents_to_decimal
from settle.engine.statement import StatementBuilder

__all__ = ["FundedPool", "fund_pools", "pool_entries", "pool_key"]


@dataclass(frozen=True)
class FundedPool:
    """One pool's published funding and interest, in cents."""

    group_id: str | None
    funded_cents: int
    interest_cents: int


def pool_key(group_id: str | None) -> str:
    return group_id if group_id is not None else "-"


def fund_pools(
    sb: StatementBuilder,
    pools: Sequence[PoolFunding],
    *,
    pool_rate: Decimal,
    interest_rate: Decimal,
    base_label: str,
) -> list[FundedPool]:
    """Publish each pool's base, funding and interest; return them."""
    out = []
    for p in pools:
        k = pool_key(p.group_id)
        base = sb.cents(f"base[{k}]", f"{base_label} (group {k})", p.base_cents)
        funded = sb.money(
            f"funded[{k}]",
            f"Pool funded = {pool_rate} × base (group {k})",
            pool_rate * cents_to_decimal(base),
        )
        interest = 0
        if interest_rate:
            sb.number(f"cent_days[{k}]", f"Σ paid cents × days of interest (group {k})", p.cent_days, "count")
            interest = sb.money(
                f"interest[{k}]",
                f"Interest = {interest_rate} × {pool_rate} × cent-days / 365 / 100 (group {k})",
                simple_interest_dollars(interest_rate, pool_rate, p.cent_days),
            )
        out.append(FundedPool(p.group_id, funded, interest))
    return out


def pool_entries(
    pool: FundedPool,
    paid_cents: int,
    *,
    contract_id: str,
    period: str | None,
    entity_id: str,
    funding_reason: str,
) -> list[LedgerEntry]:
    """The ledger of one pool: funding, interest, payout to the entity, return to the group."""
    acct = pool_account(contract_id, entity_id, pool.group_id)
    group = group_account(pool.group_id)

    def move(source: str, destination: str, cents: int, reason: str) -> list[LedgerEntry]:
        return transfer(
            source,
            destination,
            cents,
            contract_id=contract_id,
            period=period,
            reason=reason,
            entity_id=entity_id,
            group_id=pool.group_id,
        )

    return [
        *move(group, acct, pool.funded_cents, funding_reason),
        *move(interest_account(contract_id), acct, pool.interest_cents, "interest"),
        *move(acct, entity_account(entity_id), paid_cents, "earned"),
        *move(acct, group, pool.funded_cents - paid_cents, "unearned_return"),
        *move(acct, group, pool.interest_cents, "interest_return"),
    ]
