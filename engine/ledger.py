"""The ledger: every movement of money as a double-entry entry in integer cents.

An entry moves ``amount_cents`` (always > 0) **from its credit account to its debit account**
(bookkeeping's convention: the account that receives value is debited).  Accounts are plain
strings:

* ``group:<group_id>`` — an employer group (the payer's book when it is fully insured);
  ``payer`` when a settlement has no group (a what-if, or an entity-level figure not split);
* ``entity:<entity_id>`` — a contract entity;
* ``pool:<contract_id>:<entity_id>:<group_id>`` — a withhold or bonus pool (per employer ×
  entity); it must be empty (balance 0) once the contract is settled;
* ``interest:<contract_id>`` — where a pool's interest comes from (the bank account's
  interest).

Per pool: funded + interest = paid to the entity + returned to the employer, to the cent
(:func:`check_ledger` raises :class:`InvariantViolation` otherwise).  When one entity-level
figure is split across employer groups, :func:`split_across_groups` uses the largest-remainder
method (:func:`settle.engine.money.allocate`) with the groups' **member months** as weights, so
the parts add up exactly to the whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa

from settle.engine.errors import InvariantViolation
from settle.engine.money import allocate

__all__ = [
    "LEDGER_SCHEMA",
    "LedgerEntry",
    "balances",
    "check_ledger",
    "entity_account",
    "group_account",
    "interest_account",
    "ledger_to_table",
    "pool_account",
    "split_across_groups",
    "totals_table",
    "transfer",
]


@dataclass(frozen=True)
class LedgerEntry:
    """Money moved from ``credit`` to ``debit``; ``amount_cents`` > 0."""

    debit: str
    credit: str
    amount_cents: int
    contract_id: str
    period: str | None
    reason: str
    entity_id: str
    group_id: str | None


def group_account(group_id: str | None) -> str:
    return "payer" if group_id is None else f"group:{group_id}"


def entity_account(entity_id: str) -> str:
    return f"entity:{entity_id}"


def pool_account(contract_id: str, entity_id: str, group_id: str | None) -> str:
    return f"pool:{contract_id}:{entity_id}:{group_id or '-'}"


def interest_account(contract_id: str) -> str:
    return f"interest:{contract_id}"


def transfer(
    source: str,
    destination: str,
    cents: int,
    *,
    contract_id: str,
    period: str | None,
    reason: str,
    entity_id: str,
    group_id: str | None,
) -> list[LedgerEntry]:
    """The entries moving ``cents`` from ``source`` to ``destination`` (none for 0; a negative
    amount moves the other way)."""
    if cents == 0:
        return []
    if cents < 0:
        source, destination, cents = destination, source, -cents
    return [LedgerEntry(destination, source, cents, contract_id, period, reason, entity_id, group_id)]


def split_across_groups(
    total_cents: int, groups: Sequence[tuple[str, Decimal | int]]
) -> list[tuple[str, int]]:
    """Split an entity-level amount across its employer groups by member months (largest remainder).

    ``groups`` is ``[(group_id, member_months), ...]``; the parts add up to ``total_cents``
    exactly; a negative total is split as the mirror image of the positive one.
    """
    parts = allocate(total_cents, [w for _, w in groups])
    return [(g, p) for (g, _), p in zip(groups, parts, strict=True)]


def balances(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    """Balance per account: received (debits) minus given (credits)."""
    out: dict[str, int] = defaultdict(int)
    for e in entries:
        out[e.debit] += e.amount_cents
        out[e.credit] -= e.amount_cents
    return dict(out)


def check_ledger(entries: Sequence[LedgerEntry]) -> None:
    """Raise :class:`InvariantViolation` unless every entry is well formed and every pool is empty.

    Well formed: a positive integer amount between two different accounts.  A pool's balance
    is funded + interest − paid − returned, which must be exactly 0 after settlement.
    """
    for e in entries:
        if not isinstance(e.amount_cents, int) or isinstance(e.amount_cents, bool) or e.amount_cents <= 0:
            raise InvariantViolation(f"ledger entry with a non-positive or non-integer amount: {e}")
        if e.debit == e.credit:
            raise InvariantViolation(f"ledger entry moves money from an account to itself: {e}")
    bal = balances(entries)
    if sum(bal.values()) != 0:  # pragma: no cover - impossible by construction; kept as a guard
        raise InvariantViolation("ledger does not balance: debits differ from credits")
    open_pools = {a: b for a, b in bal.items() if a.startswith("pool:") and b != 0}
    if open_pools:
        raise InvariantViolation(
            "pool(s) not conserved (funded + interest != paid + returned): "
            + ", ".join(f"{a} off by {b} cents" for a, b in sorted(open_pools.items()))
        )


LEDGER_SCHEMA = pa.schema(
    [
        pa.field("contract_id", pa.string(), nullable=False),
        pa.field("period", pa.string()),
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("group_id", pa.string()),
        pa.field("debit_account", pa.string(), nullable=False),
        pa.field("credit_account", pa.string(), nullable=False),
        pa.field("amount_cents", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


def ledger_to_table(entries: Sequence[LedgerEntry]) -> pa.Table:
    """The entries as an Arrow table (schema :data:`LEDGER_SCHEMA`), in the given order."""
    return pa.table(
        {
            "contract_id": [e.contract_id for e in entries],
            "period": [e.period for e in entries],
            "entity_id": [e.entity_id for e in entries],
            "group_id": [e.group_id for e in entries],
            "debit_account": [e.debit for e in entries],
            "credit_account": [e.credit for e in entries],
            "amount_cents": [e.amount_cents for e in entries],
            "reason": [e.reason for e in entries],
        },
        schema=LEDGER_SCHEMA,
    )


def totals_table(entries: Sequence[LedgerEntry]) -> pa.Table:
    """Totals per account (debits, credits, balance), sorted by account."""
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    for e in entries:
        debits[e.debit] += e.amount_cents
        credits[e.credit] += e.amount_cents
    accounts = sorted(set(debits) | set(credits))
    return pa.table(
        {
            "account": accounts,
            "debits_cents": pa.array([debits[a] for a in accounts], pa.int64()),
            "credits_cents": pa.array([credits[a] for a in accounts], pa.int64()),
            "balance_cents": pa.array([debits[a] - credits[a] for a in accounts], pa.int64()),
        }
    )
