"""Properties: pools conserve to the cent, splits add up, more savings never earn less, losses
stay under their cap."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from settle.engine.contracts import EntityAggregates, GroupWeight, Overrides, PoolFunding, settle_contract
from settle.engine.ledger import balances, split_across_groups

from .helpers import contract

rates = st.decimals(min_value=0, max_value=1, places=4)
cents = st.integers(min_value=0, max_value=10**12)
member_months = st.decimals(min_value=0, max_value=10**6, places=2)
group_ids = st.lists(st.text("ABCDEFG", min_size=1, max_size=3), min_size=1, max_size=6, unique=True)


@st.composite
def pools(draw: st.DrawFn) -> list[PoolFunding]:
    groups = draw(group_ids)
    return [PoolFunding(g, draw(cents), draw(st.integers(0, 10**15))) for g in groups]


def _pool_conserved(result: Any, pool_list: list[PoolFunding]) -> None:
    bal = balances(result.entries)
    for p in pool_list:
        funded = sum(
            e.amount_cents
            for e in result.entries
            if e.group_id == p.group_id and e.reason in ("withhold_funding", "bonus_prefund")
        )
        interest = sum(
            e.amount_cents for e in result.entries if e.group_id == p.group_id and e.reason == "interest"
        )
        out = sum(
            e.amount_cents
            for e in result.entries
            if e.group_id == p.group_id and e.reason in ("earned", "unearned_return", "interest_return")
        )
        assert funded + interest == out
        assert bal.get(f"pool:c1:E1:{p.group_id}", 0) == 0


@settings(max_examples=60, deadline=None)
@given(pools(), rates, st.decimals(min_value=0, max_value=Decimal("0.2"), places=4), rates, rates, rates)
def test_withhold_pools_conserve(
    pool_list: list[PoolFunding],
    rate: Decimal,
    interest: Decimal,
    floor: Decimal,
    span: Decimal,
    score: Decimal,
) -> None:
    target = min(floor + span + Decimal("0.0001"), Decimal(1))
    floor = min(floor, target - Decimal("0.0001"))
    terms = {
        "withhold_rate": rate,
        "interest_rate": interest,
        "settlement_date": "2026-06-30",
        "earn_back": {"floor": floor, "target": target},
    }
    agg = EntityAggregates("E1", Decimal(12), quality_score=score)
    result = settle_contract(contract("withhold", terms), agg, pool_list)
    _pool_conserved(result, pool_list)
    assert (
        0
        <= result.statement.amount_cents
        <= sum(
            result.statement.value(f"funded[{p.group_id}]")  # type: ignore[misc]
            for p in pool_list
        )
    )


@settings(max_examples=60, deadline=None)
@given(
    pools(),
    rates,
    rates,
    cents,
    member_months,
    st.booleans(),
    st.one_of(st.none(), rates),
    st.one_of(st.none(), cents),
)
def test_bonus_pools_conserve(
    pool_list: list[PoolFunding],
    prefund: Decimal,
    share: Decimal,
    actual: int,
    mm: Decimal,
    met: bool,
    max_fraction: Decimal | None,
    max_amount: int | None,
) -> None:
    terms = {
        "prefund_rate": prefund,
        "target": {"pmpm": 500},
        "provider_share": share,
        "max_fraction_of_pool": max_fraction,
        "max_amount": None if max_amount is None else max_amount / 100,
        "interest_rate": 0.05,
        "return_date": "2026-06-30",
    }
    agg = EntityAggregates("E1", mm, actual_cents=actual, met_quality_standard=met)
    result = settle_contract(contract("bonus_pool", terms), agg, pool_list)
    _pool_conserved(result, pool_list)
    assert 0 <= result.statement.amount_cents <= result.statement.value("pool_total")  # type: ignore[operator]


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.lists(st.decimals(min_value=0, max_value=10**6, places=3), min_size=1, max_size=12),
)
def test_split_across_groups_adds_up(total: int, weights: list[Decimal]) -> None:
    parts = split_across_groups(total, [(str(i), w) for i, w in enumerate(weights)])
    assert sum(p for _, p in parts) == total
    assert all(abs(p) <= abs(total) for _, p in parts)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=-(10**9), max_value=10**9), st.lists(member_months, min_size=1, max_size=5))
def test_entity_ledger_split_equals_statement(total_margin: int, mms: list[Decimal]) -> None:
    groups = tuple(GroupWeight(f"G{i}", m) for i, m in enumerate(mms))
    agg = EntityAggregates(
        "E1", sum(mms, Decimal(0)), actual_cents=10**10 - total_margin, premium_cents=10**10, groups=groups
    )
    result = settle_contract(contract("margin_share", {"provider_share": 0.37}), agg)
    assert balances(result.entries).get("entity:E1", 0) == result.statement.amount_cents


SS: dict[str, Any] = {"sharing_rate": 0.6, "quality_mode": "scale", "sequestration": 0.02}
savings_terms = st.fixed_dictionaries(
    {
        "min_savings_rate": st.one_of(st.just("mssp_sliding"), st.decimals(0, Decimal("0.05"), places=3)),
        "first_dollar": st.booleans(),
        "savings_cap": st.one_of(st.none(), st.decimals(Decimal("0.01"), Decimal("0.2"), places=2)),
    }
)
benchmarks = st.integers(min_value=100_000, max_value=10**12)


def _ss(terms: dict[str, Any], b: int, a: int, n: int, q: Decimal, overrides: Overrides = Overrides()) -> int:
    agg = EntityAggregates(
        "E1",
        Decimal(12 * n),
        attributed_members=n,
        benchmark_cents=b,
        actual_cents=a,
        quality_score=q,
        overrides=overrides,
    )
    return settle_contract(contract("shared_savings", {**SS, **terms}), agg).statement.amount_cents


@settings(max_examples=80, deadline=None)
@given(savings_terms, benchmarks, st.floats(0, 0.5), st.floats(0, 0.5), st.integers(0, 100_000), rates)
def test_larger_savings_never_earn_less(
    terms: dict[str, Any], b: int, f1: float, f2: float, n: int, q: Decimal
) -> None:
    lo, hi = sorted((f1, f2))
    a_more_savings = b - int(b * hi)
    a_less_savings = b - int(b * lo)
    assert _ss(terms, b, a_more_savings, n, q) >= _ss(terms, b, a_less_savings, n, q) >= 0


@settings(max_examples=80, deadline=None)
@given(
    benchmarks,
    st.floats(0, 3),
    rates,
    st.decimals(Decimal("0.01"), Decimal("0.2"), places=2),
    st.one_of(st.just("one_minus_final"), rates),
    st.one_of(st.none(), cents),
    st.booleans(),
)
def test_two_sided_loss_never_exceeds_its_cap(
    b: int, over: float, q: Decimal, cap: Decimal, loss_rate: Any, cap_amount: int | None, first_dollar: bool
) -> None:
    terms = {
        "risk": "two_sided",
        "min_savings_rate": 0.02,
        "loss_sharing_rate": loss_rate,
        "loss_cap": cap,
        "first_dollar": first_dollar,
    }
    owed = -_ss(terms, b, b + int(b * over), 10_000, q, Overrides(loss_cap_cents=cap_amount))
    assert owed >= 0
    assert Decimal(owed) <= cap * b + Decimal("0.5")  # the cap figure is rounded to the cent once
    if cap_amount is not None:
        assert owed <= cap_amount
