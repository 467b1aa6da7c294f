"""``margin_share``: an integrated plan-provider partnership sharing the margin.

1. Premium P: the ``premiums`` table's sum for the entity's members (``premium_cents``), or
   ``premium_pmpm`` × member months when there is no premiums table.
2. Admin = ``admin_load`` × P; margin M = P − claims − admin; margin rate m = M / P.
3. Corridor ``{lower, upper}``: inside it (lower ≤ m ≤ upper) nothing is shared; above it
   only the margin beyond the upper edge is shared (M − upper × P), below it only the part
   beyond the lower edge (M − lower × P, negative).  No corridor: all of M.
4. Provider amount = ``provider_share`` × shared margin (positive: the plan pays the provider;
   negative: the provider pays the plan), limited in size by ``cap_amount`` and
   ``cap_rate`` × P (whichever is smaller), on both sides.

Ledger: group ↔ entity, split across the entity's groups by member months.  Payment stream
``tcoc``.
"""

from __future__ import annotations

from decimal import Decimal

from settle.engine.contracts.common import Settlement, entity_flow
from settle.engine.contracts.inputs import EntityAggregates
from settle.engine.contracts.models import MarginShareContract
from settle.engine.errors import AggregatesError
from settle.engine.money import cents_to_decimal
from settle.engine.statement import StatementBuilder

__all__ = ["settle_margin_share"]


def settle_margin_share(
    contract: MarginShareContract, agg: EntityAggregates, *, period: str | None = None
) -> Settlement:
    """Settle an entity's (or cell's) margin share."""
    terms = contract.terms
    sb = StatementBuilder(contract.id, contract.kind, agg.entity_id, agg.group_id, period, "tcoc")
    sb.number("member_months", "Member months", agg.member_months, "member_months")
    if agg.premium_cents is not None:
        premium = sb.cents("premium", "Premium earned (premiums table)", agg.premium_cents)
    elif terms.premium_pmpm is not None:
        sb.money("premium_pmpm", "Premium PMPM (terms)", terms.premium_pmpm, "usd_pmpm")
        premium = sb.money(
            "premium", "Premium = premium PMPM × member months", terms.premium_pmpm * agg.member_months
        )
    else:
        raise AggregatesError(
            f"contract {contract.id}: entity {agg.entity_id} has no premium: give a premiums table or "
            "terms.premium_pmpm."
        )
    if premium <= 0:
        raise AggregatesError(f"contract {contract.id}: entity {agg.entity_id}'s premium must be positive.")
    claims = sb.cents("claims_cost", "Claims cost", agg.actual_cents)
    admin = sb.money(
        "admin",
        f"Administrative load = {terms.admin_load} × premium",
        terms.admin_load * cents_to_decimal(premium),
    )
    margin = sb.cents("margin", "Margin M = premium − claims − admin", premium - claims - admin)
    rate = sb.ratio("margin_rate", "Margin rate m = M / premium", Decimal(margin) / Decimal(premium), "rate")
    shared = margin
    if terms.corridor is not None:
        lo, hi = terms.corridor.lower, terms.corridor.upper
        if rate > hi:
            edge = sb.money(
                "corridor_edge", f"Corridor upper edge = {hi} × premium", hi * cents_to_decimal(premium)
            )
        elif rate < lo:
            edge = sb.money(
                "corridor_edge", f"Corridor lower edge = {lo} × premium", lo * cents_to_decimal(premium)
            )
        else:
            edge = margin
        shared = sb.cents("shared_margin", f"Margin beyond the corridor [{lo}, {hi}]", margin - edge)
    amount = sb.money(
        "provider_amount",
        f"Provider amount = {terms.provider_share} × shared margin",
        terms.provider_share * cents_to_decimal(shared),
    )
    caps = []
    if terms.cap_amount is not None:
        caps.append(sb.money("cap_amount", "Cap (amount, terms)", Decimal(terms.cap_amount)))
    if terms.cap_rate is not None:
        caps.append(
            sb.money(
                "cap_from_rate",
                f"Cap = {terms.cap_rate} × premium",
                terms.cap_rate * cents_to_decimal(premium),
            )
        )
    if caps:
        limit = min(caps)
        amount = sb.cents(
            "capped_amount", "Provider amount limited to ± cap", max(-limit, min(amount, limit))
        )
    sb.cents("settlement_amount", "Settlement (+ plan pays provider, − provider pays plan)", amount)
    entries = entity_flow(
        amount,
        agg,
        contract_id=contract.id,
        period=period,
        reason_paid="margin_share",
        reason_owed="margin_share",
    )
    return Settlement(sb.build(amount), tuple(entries))
