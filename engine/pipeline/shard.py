"""One shard's work: the kernels of every contract over one shard's validated tables.

A shard holds every row of a set of members (their eligibility, claims, risk scores and
voluntary alignments) plus the whole roster, so each kernel is shard-local.  Two facts
depend on the whole population and are computed in a first pass over every shard
(:func:`population_facts`, summed with :meth:`PopulationFacts.merge`): the percentile
truncation threshold and the risk renormalisation basis.  :func:`map_shard` then produces the
shard's compact outputs, which :mod:`settle.engine.pipeline.reduce` combines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import polars as pl
import pyarrow as pa

from settle.engine.contracts.models import (
    BonusPoolContract,
    ComputedBenchmark,
    SharedSavingsContract,
    WithholdContract,
)
from settle.engine.job import Period
from settle.engine.kernels.attribution import attribute, attribution_window
from settle.engine.kernels.cost import ClaimCosts, claim_costs
from settle.engine.kernels.frames import add_months, service_date
from settle.engine.kernels.member_costs import member_cost_totals, member_costs, truncation_threshold
from settle.engine.kernels.member_months import member_months
from settle.engine.kernels.risk import RiskBasis, risk_basis, with_risk
from settle.engine.kernels.rules import ContractRules
from settle.engine.pipeline.plan import ContractPlan
from settle.engine.pipeline.pools import attributed_payments, provider_payments
from settle.engine.rejects import concat_rejects, empty_rejects
from settle.engine.schemas import TABLES

__all__ = [
    "UNREAD_COLUMNS",
    "PopulationFacts",
    "ShardOutput",
    "map_shard",
    "population_facts",
    "read_columns",
]

Tables = Mapping[str, pa.Table | pl.DataFrame]
_T = TypeVar("_T")

# Columns that validation checks and no kernel reads: a caller may leave them out of the
# tables it hands to map_shard and population_facts (the cluster does: they are never decoded
# after validation, settle.engine.validate_rows.check_rows_frame's ``keep``).  A kernel that
# starts reading one must take it out of here (tests/engine/pipeline/test_unread_columns.py
# compares the kernels' results with and without them on a book where they vary).
UNREAD_COLUMNS: dict[str, frozenset[str]] = {
    "medical_claim": frozenset({"claim_type", "place_of_service_code", "claim_end_date", "data_source"}),
}


def read_columns(table: str) -> frozenset[str] | None:
    """The canonical columns of ``table`` the kernels read (``None``: all of them)."""
    unread = UNREAD_COLUMNS.get(table)
    if unread is None:
        return None
    return frozenset(c.name for c in TABLES[table].columns) - unread


@dataclass
class PopulationFacts:
    """Population-wide inputs of phase 2, per contract id."""

    member_totals: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    risk: dict[str, RiskBasis] = field(default_factory=dict)

    def merge(self, other: PopulationFacts) -> PopulationFacts:
        totals = {k: list(v) for k, v in self.member_totals.items()}
        for k, v in other.member_totals.items():
            totals.setdefault(k, []).extend(v)
        risk = dict(self.risk)
        for k, b in other.risk.items():
            risk[k] = risk.get(k, RiskBasis()) + b
        return PopulationFacts(totals, risk)

    def threshold(self, plan: ContractPlan) -> int | None:
        return truncation_threshold(plan.rules.cost.truncation, self.member_totals.get(plan.contract_id, []))


@dataclass(frozen=True)
class ShardOutput:
    """A shard's results: Arrow tables with a ``contract_id`` column, and counts."""

    attribution: pa.Table
    member_costs: pa.Table
    pool_bases: pa.Table
    baselines: pa.Table
    rejects: pa.Table
    claim_lines: int
    rejected_paid_cents: int = 0
    unused_lines: int = 0
    unused_paid_cents: int = 0


class _Kernels:
    """The shard's tables as Polars frames (converted once) and the kernels' results memoised
    by their inputs: contracts that share a period, scope and rules share the work."""

    def __init__(self, tables: Tables) -> None:
        self.frames: dict[str, pl.DataFrame | None] = {}
        for name, table in tables.items():
            if table is None or len(table) == 0:
                self.frames[name] = None
                continue
            frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            self.frames[name] = frame
        self._memo: dict[tuple[object, ...], object] = {}

    def table(self, name: str) -> pl.DataFrame:
        frame = self.frames.get(name)
        if frame is None:
            raise KeyError(name)
        return frame

    def optional(self, name: str) -> pl.DataFrame | None:
        return self.frames.get(name)

    def _cached(self, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[return-value]

    def member_months(self, period: Period, rules: ContractRules) -> pl.DataFrame:
        groups = rules.scope.groups
        return self._cached(
            ("member_months", period, rules.cost.member_months, groups),
            lambda: member_months(self.table("eligibility"), period, rules.cost.member_months, groups=groups),
        )

    def claim_costs(self, period: Period, rules: ContractRules) -> ClaimCosts:
        return self._cached(
            ("claim_costs", period, rules.cost, rules.scope),
            lambda: claim_costs(
                self.table("medical_claim"),
                self.table("eligibility"),
                period,
                rules.cost,
                rules.scope,
                pharmacy_claim=self.optional("pharmacy_claim"),
            ),
        )

    def attribution(self, rules: ContractRules) -> pl.DataFrame:
        return self._cached(
            ("attribution", rules.period, rules.attribution, rules.scope),
            lambda: attribute(
                self.table("medical_claim"),
                self.table("roster"),
                self.table("eligibility"),
                rules.period,
                rules.attribution,
                rules.scope,
                voluntary_alignment=self.optional("voluntary_alignment"),
            ),
        )


def _base(plan: ContractPlan, kernels: _Kernels) -> tuple[pl.DataFrame, ClaimCosts]:
    rules = plan.rules
    return kernels.member_months(rules.period, rules), kernels.claim_costs(rules.period, rules)


def population_facts(plans: Iterable[ContractPlan], tables: Tables) -> PopulationFacts:
    """Phase 1 for the contracts that need it (see :attr:`ContractPlan.needs_population_pass`)."""
    facts = PopulationFacts()
    kernels = _Kernels(tables)
    for plan in plans:
        if not plan.needs_population_pass:
            continue
        months, costs = _base(plan, kernels)
        totals = member_cost_totals(months, costs.costs, plan.rules.cost)
        facts.member_totals[plan.contract_id] = [totals]
        scores = kernels.optional("risk_scores")
        if plan.rules.risk.renormalize and scores is not None:
            rows = totals.join(
                months.group_by("member_id").agg(pl.col("member_month_units").sum()), on="member_id"
            )
            facts.risk[plan.contract_id] = risk_basis(rows, scores, plan.rules.performance_label)
    return facts


def map_shard(
    plans: Iterable[ContractPlan], tables: Tables, facts: PopulationFacts | None = None
) -> ShardOutput:
    """Phase 2: attribution, member costs (with risk) and pool bases of every contract."""
    facts = facts or PopulationFacts()
    plans = list(plans)
    attribution_parts: list[pl.DataFrame] = []
    cost_parts: list[pl.DataFrame] = []
    pool_parts: list[pl.DataFrame] = []
    baseline_parts: list[pl.DataFrame] = []
    rejects: list[pa.Table] = []
    kernels = _Kernels(tables)
    for plan in plans:
        rules = plan.rules
        months, claims = _base(plan, kernels)
        rejects.append(claims.rejects)
        attribution = kernels.attribution(rules)
        rows = member_costs(
            months, claims.costs, attribution, rules.cost, truncation_cents=facts.threshold(plan)
        )
        scores = kernels.optional("risk_scores")
        if scores is not None:
            rows = with_risk(
                rows, scores, rules.performance_label, rules.risk, basis=facts.risk.get(plan.contract_id)
            )
            baseline = with_risk(
                rows.drop("risk_score", "risk_score_micro", "risk_weighted_units"),
                scores,
                rules.baseline_label,
            )
            # Joined on the row key: a kernel's join does not promise to keep row order.
            rows = rows.join(
                baseline.select(
                    "member_id",
                    "group_id",
                    pl.col("risk_weighted_units").alias("baseline_risk_weighted_units"),
                ),
                on=["member_id", "group_id"],
                how="left",
                nulls_equal=True,
            )
        tag = pl.lit(plan.contract_id).alias("contract_id")
        attribution_parts.append(attribution.select(tag, pl.all()))
        cost_parts.append(rows.select(tag, pl.all()))
        pool_parts.extend(_pool_bases(plan, kernels, attribution))
        if isinstance(plan.contract, SharedSavingsContract) and isinstance(
            plan.contract.terms.benchmark, ComputedBenchmark
        ):
            baseline_parts.append(_baseline(plan, kernels, attribution).select(tag, pl.all()))
    kernel_rejects = _dedupe(concat_rejects(rejects)) if rejects else empty_rejects()
    return ShardOutput(
        attribution=_concat(attribution_parts),
        member_costs=_concat(cost_parts),
        pool_bases=_concat(pool_parts),
        baselines=_concat(baseline_parts),
        rejects=kernel_rejects,
        claim_lines=len(tables["medical_claim"]),
        rejected_paid_cents=_rejected_paid_cents(kernel_rejects, kernels),
        **_unused(plans, kernels),
    )


def _baseline(plan: ContractPlan, kernels: _Kernels, attribution: pl.DataFrame) -> pl.DataFrame:
    """Per entity: the lookback year's cost and member months of its attributed members.

    The lookback is the 12 months before the period with the same run-out; member months and
    costs follow the contract's cost rules, truncated at a fixed amount if the contract has
    one (a percentile threshold is not recomputed for the lookback: documented limitation).
    """
    rules = plan.rules
    period = rules.period
    lookback = Period(
        start=add_months(period.start, -12),
        end=period.start - dt.timedelta(days=1),
        runout_months=period.runout_months,
    )
    months = kernels.member_months(lookback, rules)
    claims = kernels.claim_costs(lookback, rules)
    truncation = rules.cost.truncation
    cap = truncation.amount_cents if truncation is not None else None
    rows = member_costs(months, claims.costs, attribution, rules.cost, truncation_cents=cap)
    return (
        rows.filter(pl.col("entity_id").is_not_null())
        .group_by("entity_id")
        .agg(
            pl.col("truncated_cost_cents").sum().alias("baseline_cost_cents"),
            pl.col("member_month_units").sum().alias("baseline_member_month_units"),
        )
    )


def _pool_bases(plan: ContractPlan, kernels: _Kernels, attribution: pl.DataFrame) -> list[pl.DataFrame]:
    contract, rules = plan.contract, plan.rules
    if isinstance(contract, WithholdContract):
        through, base = contract.terms.settlement_date, "participating_providers"
    elif isinstance(contract, BonusPoolContract):
        through, base = contract.terms.return_date, contract.terms.prefund_base
    else:
        return []
    if base == "participating_providers":
        frame = provider_payments(
            kernels.table("medical_claim"),
            kernels.table("eligibility"),
            kernels.table("roster"),
            rules.period,
            rules.scope,
            through,
        )
    else:
        frame = attributed_payments(
            kernels.table("medical_claim"),
            kernels.table("eligibility"),
            attribution,
            rules.period,
            rules.scope,
            through,
        )
    return [frame.select(pl.lit(plan.contract_id).alias("contract_id"), pl.all())]


def _concat(parts: list[pl.DataFrame]) -> pa.Table:
    if not parts:
        return pa.table({"contract_id": pa.array([], pa.string())})
    return pl.concat(parts, how="diagonal_relaxed").to_arrow()


def _dedupe(rejects: pa.Table) -> pa.Table:
    """Contracts sharing a period reject the same out-of-enrollment lines: keep one copy."""
    if rejects.num_rows == 0:
        return rejects
    frame = pl.from_arrow(rejects)
    assert isinstance(frame, pl.DataFrame)
    keys = ["table", "source_file", "row_number", "reason"]
    return frame.unique(subset=keys, keep="first", maintain_order=True).sort(keys).to_arrow()


def _rejected_paid_cents(rejects: pa.Table, kernels: _Kernels) -> int:
    """The paid amount of the claim lines the kernels rejected (reported in the manifest)."""
    if rejects.num_rows == 0:
        return 0
    found = pl.from_arrow(rejects.select(["table", "source_file", "row_number"]))
    assert isinstance(found, pl.DataFrame)
    total = 0
    for table in ("medical_claim", "pharmacy_claim"):
        frame = kernels.optional(table)
        mine = found.filter(pl.col("table") == table)
        if frame is None or mine.is_empty():
            continue
        paid = frame.select("_source_file", "_row_number", "paid_cents").join(
            mine.select(
                pl.col("source_file").cast(frame.schema["_source_file"]).alias("_source_file"),
                pl.col("row_number").alias("_row_number"),
            ),
            on=["_source_file", "_row_number"],
            how="semi",
        )
        total += int(paid["paid_cents"].sum() or 0)
    return total


def _unused(plans: Sequence[ContractPlan], kernels: _Kernels) -> dict[str, int]:
    """Accepted medical lines that no contract looks at: service date outside every contract's
    range from its attribution window's first day (or its period's start) to its period's last
    day.  They are not rejects (nothing is wrong with them) but the manifest counts them, so a
    feed full of stale or future claims does not go unnoticed."""
    claims = kernels.optional("medical_claim")
    if claims is None or not plans:
        return {"unused_lines": 0, "unused_paid_cents": 0}
    date = service_date(claims.columns)
    used = pl.lit(False)
    for plan in plans:
        first = min(attribution_window(plan.period, plan.rules.attribution)[0], plan.period.start)
        used = used | date.is_between(first, plan.period.end)
    unused = claims.filter(~used)
    return {"unused_lines": unused.height, "unused_paid_cents": int(unused["paid_cents"].sum() or 0)}
