"""``shared_savings`` settled a batch of units at a time, its statements kept as columns.

:func:`settle_shared_savings_units` gives exactly what :func:`~settle.engine.contracts.settle.settle_contract`
gives unit by unit under :mod:`.shared_savings` (the same figures computed with the same
``Decimal`` expressions, the same steps, labels and ledger entries; the parity is
property-tested against it), without making a :class:`~settle.engine.statement.Statement` and
its steps per unit: each step's figures go straight into a column
(:class:`~settle.engine.statement_columns.StatementColumns`).  On the 1M-member benchmark book
(46,313 statements in 11 batches, one process, one thread) settling and rendering took 2.2-3.3
CPU-s this way against 6.1-8.1 CPU-s statement by statement (``docs/performance.md``).

It covers the settlements a job makes of a shared-savings contract, whatever its benchmark and
risk adjustment (:func:`settles_in_columns`; the benchmark's steps are
:mod:`.benchmark_columns`); any batch with a unit the step-by-step engine would refuse (a
benchmark that is not positive, no computed baseline, missing risk scores, a missing quality
score under ``quality_mode: scale``, negative member months, a score outside [0, 1]) is left to
the step-by-step engine (``None``), which then raises its error.  The
invariants :func:`settle_contract` checks hold by construction here: one entry per group part
of a non-zero amount, whose sum is the amount (:func:`~settle.engine.ledger.split_across_groups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import pyarrow as pa

from settle.engine.contracts.benchmark_columns import BenchmarkColumns, BenchmarkInputs, Refused
from settle.engine.contracts.common import period_text
from settle.engine.contracts.models import SharedSavingsContract
from settle.engine.contracts.mssp import mssp_sliding_rate
from settle.engine.contracts.shared_savings import payment_stream
from settle.engine.ledger import LEDGER_SCHEMA, entity_account, group_account, split_across_groups
from settle.engine.money import cents_to_decimal, round_cents
from settle.engine.statement import RATE_PLACES
from settle.engine.statement_columns import StatementColumns
from settle.engine.statement_frame import StatementHeads

__all__ = ["ColumnarSettlements", "SettlementUnit", "settle_shared_savings_units", "settles_in_columns"]

_RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class SettlementUnit:
    """One unit's figures, as :func:`~settle.engine.pipeline.reduce.SettlementBatch.settle`
    gives them to :class:`~settle.engine.contracts.inputs.EntityAggregates`: ``group_id`` for
    a unit of one group (else ``None``), ``weights`` (group, member months) for an entity's
    several groups (the ledger's split)."""

    entity_id: str
    group_id: str | None
    attributed_members: int
    actual_cents: int
    quality_score: Decimal | None
    met_quality_standard: bool
    benchmark: BenchmarkInputs
    weights: tuple[tuple[str, Decimal], ...] = ()

    @property
    def member_months(self) -> Decimal:
        return self.benchmark.member_months


@dataclass(frozen=True)
class ColumnarSettlements:
    """A batch's statements (heads and step columns) and ledger rows."""

    heads: StatementHeads
    steps: StatementColumns
    ledger: pa.Table
    entries: int


def settles_in_columns(contract: object) -> bool:
    """Whether :func:`settle_shared_savings_units` covers ``contract`` (a shared-savings contract
    with a benchmark in its terms: a job's units never carry a given benchmark expenditure)."""
    return isinstance(contract, SharedSavingsContract) and contract.terms.benchmark is not None


def _check(unit: SettlementUnit, mode: str) -> None:
    """:class:`Refused` where the step-by-step engine raises for ``unit`` before its benchmark
    (``EntityAggregates``' checks, the scale mode's missing score, a negative count)."""
    score = unit.quality_score
    if (
        unit.member_months < 0
        or (score is not None and not (0 <= score <= 1))
        or (mode == "scale" and score is None)
        or unit.attributed_members < 0
    ):
        raise Refused("the step-by-step engine refuses this unit")


def settle_shared_savings_units(
    contract: SharedSavingsContract, units: Sequence[SettlementUnit]
) -> ColumnarSettlements | None:
    """The settlements of ``units`` under ``contract`` (``None``: left to the step-by-step engine)."""
    if not settles_in_columns(contract):
        return None
    try:
        return _settle(contract, units)
    except Refused:
        return None


def _settle(contract: SharedSavingsContract, units: Sequence[SettlementUnit]) -> ColumnarSettlements:
    terms = contract.terms
    mode = terms.quality_mode
    c = StatementColumns()
    s_members = c.slot("attributed_members", "Attributed members", "count")
    s_months = c.slot("member_months", "Member months", "member_months")
    benchmark = BenchmarkColumns(c, contract)
    s_a = c.slot("actual_expenditure", "Actual expenditure A", "usd")
    s_g = c.slot("gross_savings", "Gross savings (losses) G = B − A", "usd")
    s_r = c.slot("savings_rate", "Savings rate r = G / B", "rate")
    msr = _Threshold(c, "min_savings_rate", "Minimum savings rate", terms.min_savings_rate)
    s_sharing = c.slot("sharing_rate", "Sharing rate (terms)", "rate")
    s_mode = c.slot("quality_mode", "Quality mode", "text")
    s_met = c.slot("met_quality_standard", "Quality standard met", "flag") if mode != "none" else None
    s_score = c.slot("quality_score", "Quality score", "score") if mode == "scale" else None
    s_final = c.slot("final_sharing_rate", _FINAL_LABELS[mode], "rate")
    s_threshold = c.slot("threshold_met", "Savings threshold met (G > 0 and r ≥ MSR)", "flag")
    savings = _Savings(c, contract)
    losses = _Losses(c, contract) if terms.risk == "two_sided" else None
    s_amount = c.slot("settlement_amount", "Settlement (+ paid to entity, − owed by entity)", "usd")

    ledger = _Ledger(contract.id, period_text(contract.period))
    amounts: list[int] = []
    for i, u in enumerate(units):
        _check(u, mode)
        s_members.add(i, u.attributed_members)
        s_months.add(i, u.member_months)
        b = benchmark.publish(i, u.benchmark)
        a = s_a.add(i, int(u.actual_cents))
        g = s_g.add(i, b - a)
        r = s_r.add(i, (Decimal(g) / Decimal(b)).quantize(_RATE_QUANTUM, rounding=ROUND_HALF_EVEN))
        min_rate = msr.publish(i, u.attributed_members)
        s_sharing.add(i, terms.sharing_rate)
        s_mode.add(i, mode)
        if s_met is None:
            final = terms.sharing_rate
        else:
            met = s_met.add(i, u.met_quality_standard)
            if s_score is None:
                final = terms.sharing_rate if met else _ZERO
            else:
                score = s_score.add(i, u.quality_score)
                final = terms.sharing_rate * score if met else _ZERO
        s_final.add(i, final)
        amount = 0
        if s_threshold.add(i, g > 0 and r >= min_rate):
            amount = savings.publish(i, g, b, min_rate, final)
        elif losses is not None:
            amount = losses.publish(i, u, g, b, r, final)
        amounts.append(s_amount.add(i, amount))
        ledger.flow(amount, u)
    heads = StatementHeads(
        [contract.id] * len(units),
        [contract.kind] * len(units),
        [u.entity_id for u in units],
        [u.group_id for u in units],
        [period_text(contract.period)] * len(units),
        [payment_stream(terms)] * len(units),
        amounts,
    )
    return ColumnarSettlements(heads, c, ledger.table(), ledger.count)


_FINAL_LABELS = {
    "none": "Final sharing rate = sharing rate",
    "gate": "Final sharing rate = sharing rate if standard met, else 0",
    "scale": "Final sharing rate = sharing rate × quality score (0 if standard not met)",
}


class _Threshold:
    """The minimum savings (or loss) rate's two steps (``shared_savings._threshold``; a job's
    units carry no per-entity override)."""

    def __init__(self, c: StatementColumns, name: str, label: str, rule: Decimal | str) -> None:
        self.rule = rule
        self.s_rule = c.slot(f"{name}_rule", f"{label}: rule", "text")
        sliding = rule == "mssp_sliding"
        self.s_rate = c.slot(name, f"{label} (MSSP sliding scale)" if sliding else label, "rate")

    def publish(self, i: int, attributed: int) -> Decimal:
        if self.rule == "mssp_sliding":
            self.s_rule.add(i, f"mssp_sliding for {attributed} attributed")
            rate = mssp_sliding_rate(attributed).quantize(_RATE_QUANTUM, rounding=ROUND_HALF_EVEN)
            return self.s_rate.add(i, rate)  # type: ignore[no-any-return]
        assert isinstance(self.rule, Decimal)
        self.s_rule.add(i, "terms")
        return self.s_rate.add(i, self.rule)  # type: ignore[no-any-return]


class _Savings:
    """``shared_savings._earned_savings``, its steps as slots."""

    def __init__(self, c: StatementColumns, contract: SharedSavingsContract) -> None:
        t = self.terms = contract.terms
        self.s_msr_amount = None if t.first_dollar else c.slot("msr_amount", "MSR amount = MSR × B", "usd")
        self.s_shareable = c.slot(
            "shareable_savings",
            "Shareable savings = G (first dollar)" if t.first_dollar else "Shareable savings = G − MSR × B",
            "usd",
        )
        self.s_shared = c.slot("shared_savings", "Shared savings = shareable × final sharing rate", "usd")
        self.s_cut = self.s_after = None
        if t.sequestration:
            self.s_cut = c.slot("sequestration_amount", f"Sequestration = shared × {t.sequestration}", "usd")
            self.s_after = c.slot("savings_after_sequestration", "Savings after sequestration", "usd")
        self.s_cap = None
        if t.savings_cap is not None:
            self.s_cap = c.slot("savings_cap_amount", f"Savings cap = {t.savings_cap} × B", "usd")
        self.s_earned = c.slot(
            "earned_savings",
            "Earned savings (no cap)" if t.savings_cap is None else "Earned savings = min(savings, cap)",
            "usd",
        )

    def publish(self, i: int, g: int, b: int, msr: Decimal, final: Decimal) -> int:
        t = self.terms
        if self.s_msr_amount is None:
            shareable = self.s_shareable.add(i, g)
        else:
            above = self.s_msr_amount.add(i, round_cents(msr * b / 100))
            shareable = self.s_shareable.add(i, g - above)
        shared = self.s_shared.add(i, round_cents(cents_to_decimal(shareable) * final))
        if self.s_cut is not None and self.s_after is not None:
            cut = self.s_cut.add(i, round_cents(cents_to_decimal(shared) * t.sequestration))
            shared = self.s_after.add(i, shared - cut)
        if self.s_cap is None:
            return self.s_earned.add(i, shared)  # type: ignore[no-any-return]
        assert t.savings_cap is not None
        cap = self.s_cap.add(i, round_cents(t.savings_cap * cents_to_decimal(b)))
        return self.s_earned.add(i, min(shared, cap))  # type: ignore[no-any-return]


class _Losses:
    """The two-sided branch (``shared_savings``'s loss threshold, ``_loss_rate`` and
    ``_owed_loss``), its steps as slots.  The two ways to a loss rate exclude each other, so
    their slots follow one another."""

    def __init__(self, c: StatementColumns, contract: SharedSavingsContract) -> None:
        t = self.terms = contract.terms
        self.mlr = _Threshold(c, "min_loss_rate", "Minimum loss rate", t.effective_min_loss_rate)
        self.s_met = c.slot("loss_threshold_met", "Loss threshold met (G < 0 and r ≤ −MLR)", "flag")
        one_minus = t.loss_sharing_rate == "one_minus_final"
        self.s_raw = c.slot(
            "loss_rate_before_limits",
            "Loss rate = 1 − final sharing rate" if one_minus else "Loss rate (terms)",
            "rate",
        )
        self.s_clamp_rule = c.slot("loss_rate_rule", "Loss rate: rule", "text")
        self.s_clamped = c.slot("loss_rate", "Loss sharing rate (clamped to floor and ceiling)", "rate")
        self.s_failed_rule = c.slot("loss_rate_rule", "Loss rate: rule", "text")
        self.s_failed_rate = c.slot("loss_rate", "Loss sharing rate", "rate")
        self.clamp_text = f"clamped to [{t.loss_rate_floor}, {t.loss_rate_ceiling}]"
        self.s_mlr_amount = None if t.first_dollar else c.slot("mlr_amount", "MLR amount = MLR × B", "usd")
        self.s_shareable = c.slot(
            "shareable_losses",
            "Shareable losses = |G| (first dollar)" if t.first_dollar else "Shareable losses = |G| − MLR × B",
            "usd",
        )
        self.s_shared = c.slot("shared_losses", "Shared losses = shareable × loss rate", "usd")
        self.s_cap = self.s_after_cap = None
        if t.loss_cap is not None:
            self.s_cap = c.slot("loss_cap_amount", f"Loss cap = {t.loss_cap} × B", "usd")
            self.s_after_cap = c.slot("losses_after_cap", "Losses after cap = min(losses, cap)", "usd")
        self.s_owed = c.slot("owed_losses", "Owed losses", "usd")

    def publish(self, i: int, u: SettlementUnit, g: int, b: int, r: Decimal, final: Decimal) -> int:
        """Publish the branch's steps; return the (signed) settlement amount."""
        t = self.terms
        mlr = self.mlr.publish(i, u.attributed_members)
        if not self.s_met.add(i, g < 0 and r <= -mlr):
            return 0
        failed = t.quality_mode != "none" and not u.met_quality_standard
        if failed and t.loss_rate_if_quality_failed is not None:
            self.s_failed_rule.add(i, "loss_rate_if_quality_failed (standard not met)")
            rate: Decimal = self.s_failed_rate.add(i, t.loss_rate_if_quality_failed)
        else:
            if t.loss_sharing_rate == "one_minus_final":
                raw: Decimal = self.s_raw.add(i, 1 - final)
            else:
                assert isinstance(t.loss_sharing_rate, Decimal)
                raw = self.s_raw.add(i, t.loss_sharing_rate)
            self.s_clamp_rule.add(i, self.clamp_text)
            rate = self.s_clamped.add(i, min(max(raw, t.loss_rate_floor), t.loss_rate_ceiling))
        if self.s_mlr_amount is None:
            shareable = self.s_shareable.add(i, -g)
        else:
            below = self.s_mlr_amount.add(i, round_cents(mlr * b / 100))
            shareable = self.s_shareable.add(i, -g - below)
        loss = self.s_shared.add(i, round_cents(cents_to_decimal(shareable) * rate))
        if self.s_cap is not None and self.s_after_cap is not None:
            assert t.loss_cap is not None
            cap = self.s_cap.add(i, round_cents(t.loss_cap * cents_to_decimal(b)))
            loss = self.s_after_cap.add(i, min(loss, cap))
        return -int(self.s_owed.add(i, loss))


class _Ledger:
    """``common.entity_flow``'s entries as columns."""

    def __init__(self, contract_id: str, period: str | None) -> None:
        self.contract_id, self.period = contract_id, period
        self.rows: dict[str, list[object]] = {f.name: [] for f in LEDGER_SCHEMA}
        self.count = 0

    def flow(self, amount: int, u: SettlementUnit) -> None:
        reason = "shared_savings" if amount >= 0 else "shared_losses"
        parts: Sequence[tuple[str | None, int]] = [(u.group_id, amount)]
        if u.weights:
            parts = split_across_groups(amount, list(u.weights))
        entity = entity_account(u.entity_id)
        for group_id, cents in parts:
            if cents == 0:
                continue
            group = group_account(group_id)
            debit, credit = (entity, group) if cents > 0 else (group, entity)
            row = self.rows
            row["contract_id"].append(self.contract_id)
            row["period"].append(self.period)
            row["entity_id"].append(u.entity_id)
            row["group_id"].append(group_id)
            row["debit_account"].append(debit)
            row["credit_account"].append(credit)
            row["amount_cents"].append(abs(cents))
            row["reason"].append(reason)
            self.count += 1

    def table(self) -> pa.Table:
        return pa.table(self.rows, schema=LEDGER_SCHEMA)
