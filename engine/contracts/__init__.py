"""Contract documents and the contract kinds that settle them.

* :mod:`.models` — the pydantic models of a contract document; :func:`parse_contracts`.
* :mod:`.inputs` — the aggregates a kind settles from (:class:`EntityAggregates`,
  :class:`PoolFunding`).
* one module per kind: :mod:`.shared_savings` (with :mod:`.benchmark` and :mod:`.mssp`),
  :mod:`.withhold`, :mod:`.bonus_pool` (both with :mod:`.pools` and :mod:`.interest`),
  :mod:`.population_payment`, :mod:`.margin_share`;
* :mod:`.settle` — :func:`settle_contract`, the one entry point, which checks the ledger.

Statements live in :mod:`settle.engine.statement`, the ledger in :mod:`settle.engine.ledger`,
what-if in :mod:`settle.engine.whatif`.  The rules are in ``docs/contracts.md``.
"""

from settle.engine.contracts.common import Settlement
from settle.engine.contracts.inputs import EntityAggregates, GroupWeight, Overrides, PoolFunding
from settle.engine.contracts.models import Contract, parse_contract, parse_contracts
from settle.engine.contracts.settle import settle_contract

__all__ = [
    "Contract",
    "EntityAggregates",
    "GroupWeight",
    "Overrides",
    "PoolFunding",
    "Settlement",
    "parse_contract",
    "parse_contracts",
    "settle_contract",
]
