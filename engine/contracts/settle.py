"""Settle one contract × entity (× group): dispatch on the contract's kind, then check the ledger.

:func:`settle_contract` is the one entry point the job glue and the what-if use.  Withhold and
bonus-pool contracts need the entity's pools (:class:`PoolFunding`, one per employer group);
the other kinds ignore ``pools``.  Every settlement's ledger entries pass
:func:`settle.engine.ledger.check_ledger` (pools conserved to the cent) before they are
returned, and an entity-level amount split across groups adds up to the statement's amount
(:class:`InvariantViolation` otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

from settle.engine.contracts.bonus_pool import settle_bonus_pool
from settle.engine.contracts.common import Settlement, period_text
from settle.engine.contracts.inputs import EntityAggregates, PoolFunding
from settle.engine.contracts.margin_share import settle_margin_share
from settle.engine.contracts.models import (
    BonusPoolContract,
    Contract,
    MarginShareContract,
    PopulationPaymentContract,
    SharedSavingsContract,
    WithholdContract,
)
from settle.engine.contracts.population_payment import settle_population_payment
from settle.engine.contracts.shared_savings import settle_shared_savings
from settle.engine.contracts.withhold import settle_withhold
from settle.engine.errors import InvariantViolation
from settle.engine.ledger import check_ledger, entity_account

__all__ = ["settle_contract"]


def settle_contract(
    contract: Contract,
    agg: EntityAggregates,
    pools: Sequence[PoolFunding] = (),
    *,
    period: str | None = None,
) -> Settlement:
    """Settle ``agg`` under ``contract``; ``period`` defaults to the contract's own period."""
    period = period if period is not None else period_text(contract.period)
    if isinstance(contract, SharedSavingsContract):
        result = settle_shared_savings(contract, agg, period=period)
    elif isinstance(contract, WithholdContract):
        result = settle_withhold(contract, agg, pools, period=period)
    elif isinstance(contract, BonusPoolContract):
        result = settle_bonus_pool(contract, agg, pools, period=period)
    elif isinstance(contract, PopulationPaymentContract):
        result = settle_population_payment(contract, agg, period=period)
    elif isinstance(contract, MarginShareContract):
        result = settle_margin_share(contract, agg, period=period)
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"unknown contract type {type(contract).__name__}")
    check_ledger(result.entries)
    entity = entity_account(agg.entity_id)
    received = sum(e.amount_cents for e in result.entries if e.debit == entity) - sum(
        e.amount_cents for e in result.entries if e.credit == entity
    )
    if received != result.statement.amount_cents:
        raise InvariantViolation(
            f"contract {contract.id}, entity {agg.entity_id}: the ledger moves {received} cents to the "
            f"entity but the statement settles {result.statement.amount_cents}"
        )
    return result
