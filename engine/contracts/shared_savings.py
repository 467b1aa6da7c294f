"""``shared_savings``: one- or two-sided shared savings and losses (MSSP tracks, commercial ACOs).

B = benchmark expenditure, A = actual expenditure, G = B − A, r = G / B (published to
``RATE_PLACES`` places).  The steps, in order:

1. B (see :mod:`.benchmark`), A, G, r.
2. MSR: the row's override, else the terms' ``min_savings_rate`` (a number, or
   ``mssp_sliding`` from the attributed count, see :mod:`.mssp`).  MLR likewise from
   ``min_loss_rate``, which defaults to the MSR's rule.
3. Quality: ``none``: final rate = ``sharing_rate``; ``scale``: ``sharing_rate`` × quality
   score; ``gate``: ``sharing_rate``.  Under ``scale`` and ``gate`` an entity that did not
   meet the quality standard gets a final rate of 0 (MSSP: no savings without meeting the
   standard).
4. Savings when G > 0 and r ≥ MSR: shareable = G (``first_dollar``) or G − MSR × B; shared =
   shareable × final rate; sequestration cut = shared × ``sequestration``; earned =
   min(shared − cut, ``savings_cap`` × B).  Sequestration applies to savings only and before
   the cap (``DOMAIN.md``; the 2014 and 2018 CMS files agree).
5. Losses when ``two_sided``, G < 0 and r ≤ −MLR: loss rate = ``loss_rate_if_quality_failed``
   when the standard was not met (and quality counts) and that term is set; otherwise
   ``loss_sharing_rate`` (a number, or ``one_minus_final`` = 1 − final rate) clamped to
   [``loss_rate_floor``, ``loss_rate_ceiling``].  Shareable loss = |G| (``first_dollar``) or
   |G| − MLR × B; loss = shareable × loss rate, capped at ``loss_cap`` × B and at the row's
   ``loss_cap_cents``; then the row's ``loss_relief_cents`` is removed (never below 0).
6. Otherwise 0.  The signed settlement is + paid to the entity, − owed by it.

Every money figure is rounded once where its step is published (see :mod:`settle.engine.statement`).
Payment stream: ``ssl`` when two-sided, ``ssp`` when quality does not count, else ``ssq``.
"""

from __future__ import annotations

from decimal import Decimal

from settle.engine.contracts.benchmark import benchmark_expenditure
from settle.engine.contracts.common import Settlement, entity_flow, require_quality_score
from settle.engine.contracts.inputs import EntityAggregates
from settle.engine.contracts.models import SharedSavingsContract, SharedSavingsTerms
from settle.engine.contracts.mssp import mssp_sliding_rate
from settle.engine.errors import AggregatesError
from settle.engine.money import cents_to_decimal
from settle.engine.statement import StatementBuilder

__all__ = ["payment_stream", "settle_shared_savings"]


def payment_stream(terms: SharedSavingsTerms) -> str:
    if terms.risk == "two_sided":
        return "ssl"
    return "ssp" if terms.quality_mode == "none" else "ssq"


def settle_shared_savings(
    contract: SharedSavingsContract, agg: EntityAggregates, *, period: str | None = None
) -> Settlement:
    """Settle one entity (or entity × group cell) under a shared-savings contract."""
    terms = contract.terms
    sb = StatementBuilder(
        contract.id, contract.kind, agg.entity_id, agg.group_id, period, payment_stream(terms)
    )
    sb.number("attributed_members", "Attributed members", agg.attributed_members)
    sb.number("member_months", "Member months", agg.member_months, "member_months")
    b = benchmark_expenditure(sb, terms, contract.risk, agg, contract.id)
    if b <= 0:
        raise AggregatesError(
            f"contract {contract.id}: entity {agg.entity_id} has a benchmark expenditure of "
            f"{cents_to_decimal(b)}; it must be positive to compute a savings rate."
        )
    a = sb.cents("actual_expenditure", "Actual expenditure A", agg.actual_cents)
    g = sb.cents("gross_savings", "Gross savings (losses) G = B − A", b - a)
    r = sb.ratio("savings_rate", "Savings rate r = G / B", Decimal(g) / Decimal(b), "rate")
    msr = _threshold(
        sb,
        "min_savings_rate",
        "Minimum savings rate",
        terms.min_savings_rate,
        agg.overrides.min_savings_rate,
        agg,
    )
    final = _final_sharing_rate(sb, terms, agg, contract.id)
    savings_met = sb.flag("threshold_met", "Savings threshold met (G > 0 and r ≥ MSR)", g > 0 and r >= msr)
    amount = 0
    if savings_met:
        amount = _earned_savings(sb, terms, g, b, msr, final)
    elif terms.risk == "two_sided":
        mlr = _threshold(
            sb,
            "min_loss_rate",
            "Minimum loss rate",
            terms.effective_min_loss_rate,
            agg.overrides.min_loss_rate,
            agg,
        )
        if sb.flag("loss_threshold_met", "Loss threshold met (G < 0 and r ≤ −MLR)", g < 0 and r <= -mlr):
            amount = -_owed_loss(sb, terms, agg, g, b, mlr, final)
    sb.cents("settlement_amount", "Settlement (+ paid to entity, − owed by entity)", amount)
    entries = entity_flow(
        amount,
        agg,
        contract_id=contract.id,
        period=period,
        reason_paid="shared_savings",
        reason_owed="shared_losses",
    )
    return Settlement(sb.build(amount), tuple(entries))


def _threshold(
    sb: StatementBuilder,
    name: str,
    label: str,
    rule: Decimal | str,
    override: Decimal | None,
    agg: EntityAggregates,
) -> Decimal:
    if override is not None:
        sb.text(f"{name}_rule", f"{label}: rule", "per-entity override")
        return sb.rate(name, label, override)
    if rule == "mssp_sliding":
        sb.text(f"{name}_rule", f"{label}: rule", f"mssp_sliding for {agg.attributed_members} attributed")
        return sb.ratio(
            name, f"{label} (MSSP sliding scale)", mssp_sliding_rate(agg.attributed_members), "rate"
        )
    assert isinstance(rule, Decimal)
    sb.text(f"{name}_rule", f"{label}: rule", "terms")
    return sb.rate(name, label, rule)


def _final_sharing_rate(
    sb: StatementBuilder, terms: SharedSavingsTerms, agg: EntityAggregates, contract_id: str
) -> Decimal:
    sb.rate("sharing_rate", "Sharing rate (terms)", terms.sharing_rate)
    sb.text("quality_mode", "Quality mode", terms.quality_mode)
    if terms.quality_mode == "none":
        return sb.rate("final_sharing_rate", "Final sharing rate = sharing rate", terms.sharing_rate)
    met = sb.flag("met_quality_standard", "Quality standard met", agg.met_quality_standard)
    if terms.quality_mode == "gate":
        rate = terms.sharing_rate if met else Decimal(0)
        return sb.rate(
            "final_sharing_rate", "Final sharing rate = sharing rate if standard met, else 0", rate
        )
    score = require_quality_score(agg, contract_id, "quality_mode: scale needs")
    sb.rate("quality_score", "Quality score", score, "score")
    rate = terms.sharing_rate * score if met else Decimal(0)
    return sb.rate(
        "final_sharing_rate",
        "Final sharing rate = sharing rate × quality score (0 if standard not met)",
        rate,
    )


def _earned_savings(
    sb: StatementBuilder, terms: SharedSavingsTerms, g: int, b: int, msr: Decimal, final: Decimal
) -> int:
    if terms.first_dollar:
        shareable = sb.cents("shareable_savings", "Shareable savings = G (first dollar)", g)
    else:
        above = sb.money("msr_amount", "MSR amount = MSR × B", msr * b / 100)
        shareable = sb.cents("shareable_savings", "Shareable savings = G − MSR × B", g - above)
    shared = sb.money(
        "shared_savings",
        "Shared savings = shareable × final sharing rate",
        cents_to_decimal(shareable) * final,
    )
    if terms.sequestration:
        cut = sb.money(
            "sequestration_amount",
            f"Sequestration = shared × {terms.sequestration}",
            cents_to_decimal(shared) * terms.sequestration,
        )
        shared = sb.cents("savings_after_sequestration", "Savings after sequestration", shared - cut)
    if terms.savings_cap is None:
        return sb.cents("earned_savings", "Earned savings (no cap)", shared)
    cap = sb.money(
        "savings_cap_amount",
        f"Savings cap = {terms.savings_cap} × B",
        terms.savings_cap * cents_to_decimal(b),
    )
    return sb.cents("earned_savings", "Earned savings = min(savings, cap)", min(shared, cap))


def _loss_rate(
    sb: StatementBuilder, terms: SharedSavingsTerms, agg: EntityAggregates, final: Decimal
) -> Decimal:
    failed = terms.quality_mode != "none" and not agg.met_quality_standard
    if failed and terms.loss_rate_if_quality_failed is not None:
        sb.text("loss_rate_rule", "Loss rate: rule", "loss_rate_if_quality_failed (standard not met)")
        return sb.rate("loss_rate", "Loss sharing rate", terms.loss_rate_if_quality_failed)
    if terms.loss_sharing_rate == "one_minus_final":
        raw = sb.rate("loss_rate_before_limits", "Loss rate = 1 − final sharing rate", 1 - final)
    else:
        assert isinstance(terms.loss_sharing_rate, Decimal)
        raw = sb.rate("loss_rate_before_limits", "Loss rate (terms)", terms.loss_sharing_rate)
    sb.text(
        "loss_rate_rule",
        "Loss rate: rule",
        f"clamped to [{terms.loss_rate_floor}, {terms.loss_rate_ceiling}]",
    )
    return sb.rate(
        "loss_rate",
        "Loss sharing rate (clamped to floor and ceiling)",
        min(max(raw, terms.loss_rate_floor), terms.loss_rate_ceiling),
    )


def _owed_loss(
    sb: StatementBuilder,
    terms: SharedSavingsTerms,
    agg: EntityAggregates,
    g: int,
    b: int,
    mlr: Decimal,
    final: Decimal,
) -> int:
    rate = _loss_rate(sb, terms, agg, final)
    if terms.first_dollar:
        shareable = sb.cents("shareable_losses", "Shareable losses = |G| (first dollar)", -g)
    else:
        below = sb.money("mlr_amount", "MLR amount = MLR × B", mlr * b / 100)
        shareable = sb.cents("shareable_losses", "Shareable losses = |G| − MLR × B", -g - below)
    loss = sb.money(
        "shared_losses", "Shared losses = shareable × loss rate", cents_to_decimal(shareable) * rate
    )
    if terms.loss_cap is not None:
        cap = sb.money(
            "loss_cap_amount", f"Loss cap = {terms.loss_cap} × B", terms.loss_cap * cents_to_decimal(b)
        )
        loss = sb.cents("losses_after_cap", "Losses after cap = min(losses, cap)", min(loss, cap))
    if agg.overrides.loss_cap_cents is not None:
        sb.cents("loss_cap_override", "Loss limit (per-entity override)", agg.overrides.loss_cap_cents)
        loss = sb.cents(
            "losses_after_limit",
            "Losses after limit = min(losses, limit)",
            min(loss, agg.overrides.loss_cap_cents),
        )
    if agg.overrides.loss_relief_cents:
        relief = sb.cents(
            "loss_relief", "Loss relief (per-entity, removed after the cap)", agg.overrides.loss_relief_cents
        )
        loss = sb.cents(
            "losses_after_relief", "Losses after relief = max(losses − relief, 0)", max(loss - relief, 0)
        )
    return sb.cents("owed_losses", "Owed losses", loss)
