"""Shared savings settled column-wise (``shared_savings_columns``) against the step-by-step
engine: the same statements, steps, JSON and ledger rows, byte for byte, for any terms and
cells; batches it does not cover go to the step-by-step engine, errors included."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settle.engine.contracts.models import SharedSavingsContract, parse_contract
from settle.engine.contracts.shared_savings_columns import settle_shared_savings_units
from settle.engine.errors import AggregatesError, SettleError
from settle.engine.kernels.member_months import MEMBER_MONTH_UNITS
from settle.engine.pipeline.plan import ContractPlan
from settle.engine.pipeline.reduce import Quality, SettlementBatch
from settle.engine.pipeline.rendered import _units, render_settlements, settle_batch
from settle.engine.statement_columns import StatementColumns

_NO_RISK = {"rw": 0, "rmm": 0, "brw": 0, "brmm": 0}  # risk sums (the contracts do not adjust)
_RATES = st.decimals(min_value=0, max_value=1, places=3)


@st.composite
def _terms(draw: st.DrawFn) -> dict[str, Any]:
    pmpm = str(draw(st.decimals(min_value=1, max_value=2000, places=3)))
    trend = {"trend": str(draw(st.decimals(min_value="-0.1", max_value="0.2", places=3)))}
    trend["trend_years"] = draw(st.integers(min_value=0, max_value=3))
    benchmark = draw(
        st.sampled_from(
            [
                {"pmpm": pmpm},
                {"baseline_pmpm": pmpm, **trend},
                {
                    "baseline_years": [{"pmpm": pmpm, "weight": "0.6"}, {"pmpm": "380.5", "weight": "0.4"}],
                    **trend,
                },
                {"computed": True, **trend},
            ]
        )
    )
    terms: dict[str, Any] = {
        "benchmark": benchmark,
        "risk": draw(st.sampled_from(["one_sided", "two_sided"])),
        "min_savings_rate": draw(st.one_of(_RATES.map(str), st.just("mssp_sliding"))),
        "sharing_rate": str(draw(_RATES)),
        "quality_mode": draw(st.sampled_from(["scale", "gate", "none"])),
        "first_dollar": draw(st.booleans()),
        "sequestration": str(draw(st.sampled_from([Decimal(0), Decimal("0.02"), Decimal("0.0125")]))),
    }
    if draw(st.booleans()):
        terms["savings_cap"] = str(draw(_RATES))
    if terms["risk"] == "two_sided":
        terms["loss_sharing_rate"] = draw(st.one_of(_RATES.map(str), st.just("one_minus_final")))
        floor = draw(st.decimals(min_value=0, max_value="0.5", places=2))
        terms["loss_rate_floor"] = str(floor)
        terms["loss_rate_ceiling"] = str(floor + draw(st.decimals(min_value=0, max_value="0.5", places=2)))
        if draw(st.booleans()):
            terms["min_loss_rate"] = draw(st.one_of(_RATES.map(str), st.just("mssp_sliding")))
        if draw(st.booleans()):
            terms["loss_rate_if_quality_failed"] = str(draw(_RATES))
        if draw(st.booleans()):
            terms["loss_cap"] = str(draw(_RATES))
    return terms


@st.composite
def _batches(draw: st.DrawFn) -> SettlementBatch:
    per = draw(st.sampled_from(["entity", "entity_group"]))
    terms = draw(_terms())
    bench = terms["benchmark"]
    pmpm = Decimal(bench.get("pmpm", bench.get("baseline_pmpm", "400")))
    risk: dict[str, Any] = {"adjust": draw(st.booleans())}
    if draw(st.booleans()):
        risk["growth_cap"] = str(draw(st.decimals(min_value=0, max_value="0.1", places=3)))
    contract = parse_contract(
        {"id": "ss", "kind": "shared_savings", "settle_per": per, "terms": terms, "risk": risk}, "test"
    )
    # Risk sums (score x member-month units, and the units scored): sometimes none, which the
    # step-by-step engine refuses when the contract adjusts.
    scored = st.integers(min_value=0, max_value=10**6)
    score_sums = st.tuples(st.integers(min_value=0, max_value=3 * 10**6 * 10_000), scored)
    entities = draw(st.lists(st.sampled_from(["E1", "E2", "E3", "E 4"]), min_size=1, max_size=4, unique=True))
    rows = []
    for entity in sorted(entities):
        for group in sorted(
            draw(st.lists(st.sampled_from(["G1", "G2", "G3"]), min_size=1, max_size=3, unique=True))
        ):
            months = draw(st.integers(min_value=1, max_value=40_000))
            units = months * MEMBER_MONTH_UNITS + draw(st.integers(min_value=0, max_value=MEMBER_MONTH_UNITS))
            rows.append(
                {
                    "entity_id": entity,
                    "group_id": group,
                    "attributed_members": draw(st.integers(min_value=0, max_value=20_000)),
                    "member_month_units": units,
                    # About the benchmark, so savings, losses and neither all occur.
                    "actual_cents": int(
                        pmpm * 100 * months * draw(st.decimals(min_value="0.5", max_value="1.5", places=3))
                    ),
                    **dict(zip(_NO_RISK, (*draw(score_sums), *draw(score_sums)), strict=True)),
                }
            )
    scores = st.one_of(st.none(), st.decimals(min_value=0, max_value=1, places=4))
    quality = {e: Quality(draw(scores), draw(st.booleans())) for e in entities if draw(st.booleans())}
    if contract.terms.quality_mode == "scale":  # a score is needed (else both engines refuse)
        quality = {
            e: q if q.score is not None else Quality(Decimal("0.5"), q.met) for e, q in quality.items()
        }
    members = {e: draw(st.integers(min_value=0, max_value=30_000)) for e in entities}
    # Computed baselines for most entities (one without is refused by both engines).
    baselines = {
        e: draw(st.decimals(min_value=1, max_value=2000, places=6))
        for e in entities
        if draw(st.integers(0, 9))
    }
    cells = pl.DataFrame(
        rows,
        schema={
            "entity_id": pl.String,
            "group_id": pl.String,
            "attributed_members": pl.Int64,
            "member_month_units": pl.Int64,
            "actual_cents": pl.Int64,
            **dict.fromkeys(_NO_RISK, pl.Int64),
        },
    )
    plan = ContractPlan(contract, None, "2025")  # type: ignore[arg-type]
    return SettlementBatch(plan, cells, members, quality, None, None, baselines)


def _same(got: Any, want: Any) -> None:
    assert got.steps.equals(want.steps)
    assert got.ledger.equals(want.ledger)
    assert got.json_lines == want.json_lines
    assert got.heads.equals(want.heads)
    assert (got.statements, got.entries) == (want.statements, want.entries)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batches())
def test_columns_give_the_step_by_step_engines_rows(batch: SettlementBatch) -> None:
    contract = batch.plan.contract
    assert isinstance(contract, SharedSavingsContract)
    units = _units(batch)
    assert units is not None
    try:
        want = render_settlements(list(batch.settle()))
    except SettleError as refused:  # a unit the engine refuses: not settled column-wise either
        assert settle_shared_savings_units(contract, units) is None
        with pytest.raises(type(refused), match=re.escape(str(refused))):
            settle_batch(batch)
        return
    assert settle_shared_savings_units(contract, units) is not None  # covered column-wise
    _same(settle_batch(batch), want)


def _one(terms: dict[str, Any], **cell: Any) -> SettlementBatch:
    contract = parse_contract(
        {"id": "c", "kind": "shared_savings", "settle_per": "entity_group", "terms": terms}, "t"
    )
    row = {
        **_NO_RISK,
        "entity_id": "E1",
        "group_id": "G1",
        "attributed_members": 10,
        "actual_cents": 400_000_00,
        **cell,
    }
    return SettlementBatch(
        ContractPlan(contract, None, "2025"),
        pl.DataFrame([row]),
        {},
        {"E1": Quality(Decimal("0.9"), True)},
        None,
        None,
        {},
    )  # type: ignore[arg-type]


def test_a_hand_computed_statement() -> None:
    # B = $400.00 PMPM x 12 member months = $4,800.00; A = $4,000.00; G = $800.00;
    # r = 800 / 4800 = 0.1666666667 >= MSR 0.02; first dollar: shareable $800.00; final rate
    # 0.5 (gate, standard met); shared $400.00; cap 0.1 x B = $480.00; earned $400.00.
    batch = _one(
        {
            "benchmark": {"pmpm": "400"},
            "min_savings_rate": "0.02",
            "sharing_rate": "0.5",
            "quality_mode": "gate",
            "savings_cap": "0.1",
        },
        member_month_units=12 * MEMBER_MONTH_UNITS,
        actual_cents=4_000_00,
    )
    rendered = settle_batch(batch)
    line = json.loads(rendered.json_lines)
    values = {s["name"]: s.get("cents", s["value"]) for s in line["steps"]}
    assert values["benchmark_expenditure"] == 480_000
    assert values["gross_savings"] == 80_000
    assert values["savings_rate"] == "0.1666666667"
    assert values["savings_cap_amount"] == 48_000
    assert values["earned_savings"] == values["settlement_amount"] == 40_000
    assert line["amount_cents"] == 40_000 and line["direction"] == "payer_to_entity"
    assert rendered.ledger.to_pylist() == [
        {
            "contract_id": "c",
            "period": None,
            "entity_id": "E1",
            "group_id": "G1",
            "debit_account": "entity:E1",
            "credit_account": "group:G1",
            "amount_cents": 40_000,
            "reason": "shared_savings",
        }
    ]


def test_a_benchmark_that_is_not_positive_goes_to_the_step_by_step_engine_and_its_error() -> None:
    batch = _one({"benchmark": {"pmpm": "400"}, "sharing_rate": "0.5"}, member_month_units=0)
    units = _units(batch)
    assert units is not None
    assert settle_shared_savings_units(batch.plan.contract, units) is None  # type: ignore[arg-type]
    with pytest.raises(AggregatesError, match="benchmark expenditure"):
        settle_batch(batch)


def test_a_statement_publishing_a_step_twice_is_refused() -> None:
    c = StatementColumns()
    first, second = c.slot("x", "X", "usd"), c.slot("x", "X again", "usd")
    first.add(0, 1)
    second.add(1, 2)
    assert c.steps_frame()["step"].to_list() == ["x", "x"]  # different statements: fine
    second.add(0, 3)
    with pytest.raises(ValueError, match="twice"):
        c.steps_frame()
