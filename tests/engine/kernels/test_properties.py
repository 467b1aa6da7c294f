"""Properties of the whole kernel chain on random tiny populations (hypothesis):

* shuffling the rows of every input table changes nothing;
* splitting the members into any shards, running both phases per shard (with the
  percentile cap and the risk basis computed across shards) and concatenating gives
  exactly the single-shard result, and the shards' aggregates add up to the whole's.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from settle.engine.job import Period
from settle.engine.kernels.member_costs import truncation_threshold
from settle.engine.kernels.pipeline import (
    ContractResult,
    ShardInputs,
    finish_shard,
    prepare_shard,
    run_contract,
)
from settle.engine.kernels.risk import RiskBasis
from settle.engine.kernels.rules import (
    AttributionMethod,
    AttributionRules,
    AttributionWindow,
    ContractRules,
    CostRules,
    MemberMonthRule,
    RiskRules,
    Scope,
    Truncation,
)
from settle.engine.kernels.stratify import ADDITIVE_COLUMNS, aggregate
from tests.engine.kernels.builders import D, alignment, eligibility, line, medical, pharmacy, roster, scores

PERIOD = Period(start=D("2025-01-01"), end=D("2025-12-31"), runout_months=3)
ROSTER = roster(
    ("1000000001", "T1", "E1", "08", "2020-01-01", None),
    ("1000000006", "T1", "E1", "08", "2024-07-01", None),
    ("1000000002", "T2", "E2", "11", "2020-01-01", "2025-06-30"),
    (None, "T3", "E3", None, "2020-01-01", None),
    ("1000000004", "T4", "E4", "06", "2020-01-01", None),
)
CLINICIANS = [
    ("1000000001", "T1"),
    ("1000000006", "T1"),
    ("1000000002", "T2"),
    ("1999999999", "T3"),
    ("1999999999", "T9"),
    ("1000000004", "T4"),
    ("1888888888", "T8"),
]
START = dt.date(2024, 1, 1)


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(min_value=1, max_value=7))
    members = [f"m{i}" for i in range(n)]
    spans: list[tuple[str, str, dt.date, dt.date]] = [("m0", "G1", D("2025-01-01"), D("2025-12-31"))]
    lines: list[dict[str, Any]] = []
    fills: list[tuple[str, str, int]] = []
    risk: list[tuple[str, str, float]] = [("m0", "2025", 1.0)]
    designations: list[tuple[str, str, str]] = []
    for m in members:
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            start = START + dt.timedelta(days=draw(st.integers(min_value=150, max_value=730)))
            end = start + dt.timedelta(days=draw(st.integers(min_value=0, max_value=400)))
            spans.append((m, draw(st.sampled_from(["G1", "G2", "G3"])), start, end))
        for k in range(draw(st.integers(min_value=0, max_value=5))):
            day = START + dt.timedelta(days=draw(st.integers(min_value=0, max_value=760)))
            paid = day + dt.timedelta(days=draw(st.integers(min_value=0, max_value=200)))
            npi, tin = draw(st.sampled_from(CLINICIANS))
            amount = draw(st.integers(min_value=0, max_value=500_00))
            hcpcs = draw(st.sampled_from(["99213", "99214", "G0439", "27447"]))
            claim = f"{m}-c{k}"
            lines.append(line(m, day.isoformat(), amount, npi=npi, tin=tin, hcpcs=hcpcs, claim=claim,
                              paid_date=paid.isoformat()))  # fmt: skip
            if draw(st.booleans()) and amount:
                cut = draw(st.integers(min_value=1, max_value=amount))
                lines.append(line(m, day.isoformat(), -cut, npi=npi, tin=tin, hcpcs=hcpcs, claim=claim,
                                  paid_date=paid.isoformat()))  # fmt: skip
        if draw(st.booleans()):
            day = START + dt.timedelta(days=draw(st.integers(min_value=360, max_value=740)))
            fills.append((m, day.isoformat(), draw(st.integers(min_value=0, max_value=10_000))))
        if m != "m0" and draw(st.booleans()):
            risk.append((m, "2025", draw(st.floats(min_value=0.1, max_value=4.0)).__round__(3)))
        if draw(st.booleans()):
            npi = draw(st.sampled_from([c[0] for c in CLINICIANS]))
            signed = START + dt.timedelta(days=draw(st.integers(min_value=0, max_value=700)))
            designations.append((m, npi, signed.isoformat()))
    rules = ContractRules(
        contract_id="c1",
        period=PERIOD,
        scope=Scope(
            groups=frozenset({"G1", "G2"}), entities=draw(st.sampled_from([None, frozenset({"E1", "E3"})]))
        ),
        attribution=AttributionRules(
            method=draw(st.sampled_from(list(AttributionMethod))),
            window=draw(st.sampled_from(list(AttributionWindow))),
        ),
        cost=CostRules(
            include_pharmacy=True,
            completion_factor=Decimal("1.05"),
            truncation=draw(
                st.sampled_from(
                    [None, Truncation(percentile=Decimal("0.8")), Truncation(amount=Decimal(150))]
                )
            ),
            member_months=draw(st.sampled_from(list(MemberMonthRule))),
        ),
        risk=RiskRules(renormalize=draw(st.booleans())),
    )
    shard_of = {m: draw(st.integers(min_value=0, max_value=3)) for m in members}
    return {
        "inputs": ShardInputs(
            eligibility=eligibility(*spans),
            medical_claim=medical(*lines),
            roster=ROSTER,
            pharmacy_claim=pharmacy(*fills),
            risk_scores=scores(*risk),
            voluntary_alignment=alignment(*designations),
        ),
        "rules": rules,
        "shard_of": shard_of,
        "seed": draw(st.integers(min_value=0, max_value=2**31)),
    }


def _tables(inputs: ShardInputs) -> dict[str, pl.DataFrame]:
    return {k: v for k, v in vars(inputs).items() if isinstance(v, pl.DataFrame)}


def _assert_same(a: ContractResult, b: ContractResult) -> None:
    assert_frame_equal(a.attribution, b.attribution)
    assert_frame_equal(a.member_costs, b.member_costs)
    assert_frame_equal(a.aggregates.cells, b.aggregates.cells)
    assert_frame_equal(a.aggregates.entities, b.aggregates.entities)
    assert _sorted_rejects(a.rejects).equals(_sorted_rejects(b.rejects))
    assert (a.rejected_lines, a.rejected_paid_cents) == (b.rejected_lines, b.rejected_paid_cents)


def _sorted_rejects(table: pa.Table) -> pa.Table:
    return table.sort_by([("table", "ascending"), ("source_file", "ascending"), ("row_number", "ascending")])


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds())
def test_shuffling_input_rows_changes_nothing(world: dict[str, Any]) -> None:
    inputs, rules = world["inputs"], world["rules"]
    shuffled = ShardInputs(
        **{k: v.sample(fraction=1.0, shuffle=True, seed=world["seed"]) for k, v in _tables(inputs).items()}
    )
    _assert_same(run_contract(inputs, rules), run_contract(shuffled, rules))


@SETTINGS
@given(worlds())
def test_any_sharding_gives_the_single_shard_result(world: dict[str, Any]) -> None:
    inputs, rules, shard_of = world["inputs"], world["rules"], world["shard_of"]
    whole = run_contract(inputs, rules)

    shard_ids = sorted(set(shard_of.values()))
    shards = []
    for s in shard_ids:
        mine = [m for m, k in shard_of.items() if k == s]
        tables = {
            k: (v if k == "roster" else v.filter(pl.col("member_id").is_in(mine)))
            for k, v in _tables(inputs).items()
        }
        shards.append(ShardInputs(**tables))
    prepared = [prepare_shard(shard, rules) for shard in shards]
    cap = truncation_threshold(rules.cost.truncation, [p.cost_totals for p in prepared])
    basis = sum((p.risk_basis for p in prepared), RiskBasis())
    rows = [finish_shard(p, shard, rules, cap, basis) for p, shard in zip(prepared, shards, strict=True)]

    attribution = pl.concat([p.attribution for p in prepared]).sort("member_id")
    member_costs = pl.concat(rows).sort("member_id", "group_id")
    assert_frame_equal(attribution, whole.attribution)
    assert_frame_equal(member_costs, whole.member_costs)
    rejects = pa.concat_tables([p.claim_costs.rejects for p in prepared])
    assert _sorted_rejects(rejects).equals(_sorted_rejects(whole.rejects))
    assert sum(p.claim_costs.rejected_paid_cents for p in prepared) == whole.rejected_paid_cents

    # The cluster's reduce: per-shard entity aggregates add up to the whole's (members live in
    # one shard, so even the distinct member counts add).
    parts = pl.concat([aggregate(r, "c1").entities for r in rows if r.height])
    additive = [c for c in ("attributed_members", *ADDITIVE_COLUMNS) if c in parts.columns]
    reduced = (
        parts.group_by("contract_id", "entity_id")
        .agg(pl.col(c).sum() for c in additive)
        .sort("entity_id", nulls_last=True)
    )
    assert_frame_equal(reduced, whole.aggregates.entities.select(reduced.columns), check_dtypes=False)
