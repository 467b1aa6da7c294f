"""Member costs: completion factor, truncation (fixed and nearest-rank percentile, two
phases), the split back across groups, attribution carried onto every group row."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from settle.engine.kernels.member_costs import (
    MEMBER_COST_COLUMNS,
    member_cost_totals,
    member_costs,
    truncation_threshold,
)
from settle.engine.kernels.member_months import MEMBER_MONTH_UNITS as U
from settle.engine.kernels.rules import CostRules, Truncation


def _mm(*rows: tuple[str, str, int]) -> pl.DataFrame:
    """(member, group, whole months)."""
    return pl.DataFrame(
        {
            "member_id": [r[0] for r in rows],
            "group_id": [r[1] for r in rows],
            "member_days": [30 * r[2] for r in rows],
            "member_month_units": [U * r[2] for r in rows],
        },
        schema={
            "member_id": pl.String,
            "group_id": pl.String,
            "member_days": pl.Int64,
            "member_month_units": pl.Int64,
        },
    )


def _raw(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "member_id": [r[0] for r in rows],
            "group_id": [r[1] for r in rows],
            "raw_cost_cents": [r[2] for r in rows],
        },
        schema={"member_id": pl.String, "group_id": pl.String, "raw_cost_cents": pl.Int64},
    )


def _attr(*rows: tuple[str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"member_id": [r[0] for r in rows], "entity_id": [r[1] for r in rows]},
        schema={"member_id": pl.String, "entity_id": pl.String},
    )


def _run(
    mm: pl.DataFrame, raw: pl.DataFrame, attr: pl.DataFrame, rules: CostRules
) -> dict[tuple[str, str], tuple]:
    cap = truncation_threshold(rules.truncation, [member_cost_totals(mm, raw, rules)])
    out = member_costs(mm, raw, attr, rules, cap)
    assert out.columns == list(MEMBER_COST_COLUMNS)
    return {
        (r["member_id"], r["group_id"]): (
            r["raw_cost_cents"],
            r["completed_cost_cents"],
            r["truncated_cost_cents"],
        )
        for r in out.iter_rows(named=True)
    }


def test_completion_factor_rounds_half_even_once_per_member() -> None:
    # a: $100.05 x 1.1 = 11005.5 cents -> half-even -> 11006 (11005 is odd).
    # b: $100.15 x 1.1 = 11016.5 cents -> 11016 (even).
    # c: in two groups, 3333 + 3334 = 6667 x 1.1 = 7333.7 -> 7334 once for the member, split
    #    3333:3334 -> 7334*3333/6667 = 3666.45 -> 3666, 7334*3334/6667 = 3667.55 -> 3667,
    #    1 cent left -> larger remainder (.55, G2) -> 3666 + 3668 = 7334.  (Rounding each group
    #    separately would give 3666 + 3667 = 7333.)
    rules = CostRules(completion_factor=Decimal("1.1"))
    got = _run(
        _mm(("a", "G1", 12), ("b", "G1", 12), ("c", "G1", 6), ("c", "G2", 6)),
        _raw(("a", "G1", 10005), ("b", "G1", 10015), ("c", "G1", 3333), ("c", "G2", 3334)),
        _attr(("a", "E1"), ("b", "E1"), ("c", "E1")),
        rules,
    )
    assert got[("a", "G1")] == (10005, 11006, 11006)
    assert got[("b", "G1")] == (10015, 11016, 11016)
    assert (got[("c", "G1")][1], got[("c", "G2")][1]) == (3666, 3668)


def test_fixed_truncation_once_over_all_groups_then_split_by_raw_cost() -> None:
    # Cap $100,000.  m1: G1 $90,000 + G2 $60,000 = $150,000 -> $100,000 total, split 3:2 ->
    # $60,000 / $40,000 (truncating each group alone would not cut anything).
    # m2: $1 + $2 = 300 cents, cap 2 cents (second contract): 2 x 1/3 = 0.67 -> 0 (rem 2/3),
    # 2 x 2/3 = 1.33 -> 1 (rem 1/3); 1 cent left -> G1 (larger remainder): 1 + 1 = 2.
    got = _run(
        _mm(("m1", "G1", 6), ("m1", "G2", 6)),
        _raw(("m1", "G1", 9_000_000), ("m1", "G2", 6_000_000)),
        _attr(("m1", "E1")),
        CostRules(truncation=Truncation(amount=Decimal(100000))),
    )
    assert got == {
        ("m1", "G1"): (9_000_000, 9_000_000, 6_000_000),
        ("m1", "G2"): (6_000_000, 6_000_000, 4_000_000),
    }
    small = _run(
        _mm(("m2", "G1", 6), ("m2", "G2", 6)),
        _raw(("m2", "G1", 100), ("m2", "G2", 200)),
        _attr(("m2", None)),
        CostRules(truncation=Truncation(amount=Decimal("0.02"))),
    )
    assert (small[("m2", "G1")][2], small[("m2", "G2")][2]) == (1, 1)


def test_percentile_is_nearest_rank_over_the_whole_population() -> None:
    # Ten members cost 0, 100, ..., 900 cents (m0 has member months but no claims: cost 0).
    # p = 0.9: k = ceil(0.9 x 10) = 9 -> x_9 = 800 -> m9 (900) is cut to 800.
    # p = 0.3: k = ceil(3) = 3 -> x_3 = 200.  p = 0.95: k = ceil(9.5) = 10 -> 900, nobody is cut.
    # p = 0.01: k = max(1, ceil(0.1)) = 1 -> x_1 = 0.
    mm = _mm(*[(f"m{i}", "G1", 12) for i in range(10)])
    raw = _raw(*[(f"m{i}", "G1", 100 * i) for i in range(1, 10)])
    totals = [member_cost_totals(mm, raw, CostRules())]
    assert truncation_threshold(Truncation(percentile=Decimal("0.9")), totals) == 800
    assert truncation_threshold(Truncation(percentile=Decimal("0.3")), totals) == 200
    assert truncation_threshold(Truncation(percentile=Decimal("0.95")), totals) == 900
    assert truncation_threshold(Truncation(percentile=Decimal("0.01")), totals) == 0
    got = _run(mm, raw, _attr(), CostRules(truncation=Truncation(percentile=Decimal("0.9"))))
    assert got[("m9", "G1")] == (900, 900, 800)
    assert got[("m8", "G1")] == (800, 800, 800)


def test_percentile_rank_is_exact_not_float() -> None:
    # 100 members cost 0, 1, ..., 99 cents.  p = 0.07: k = ceil(0.07 x 100) = 7 exactly ->
    # x_7 = 6 cents.  In floats 0.07 * 100 = 7.000000000000001, whose ceiling 8 would give 7.
    # A float percentile from a document is read through its decimal text, so 0.07 is exact.
    mm = _mm(*[(f"m{i:03d}", "G1", 12) for i in range(100)])
    raw = _raw(*[(f"m{i:03d}", "G1", i) for i in range(1, 100)])
    totals = [member_cost_totals(mm, raw, CostRules())]
    assert truncation_threshold(Truncation(percentile=Decimal("0.07")), totals) == 6
    assert truncation_threshold(Truncation(percentile=0.07), totals) == 6  # type: ignore[arg-type]


def test_percentile_two_phases_over_shards() -> None:
    # The same ten members in two shards (evens, odds): the threshold from both shards'
    # totals is 800 as over one shard; shard 2 alone (100, 300, 500, 700, 900) would give
    # k = ceil(4.5) = 5 -> 900.
    shards = [[i for i in range(10) if i % 2 == 0], [i for i in range(10) if i % 2 == 1]]
    totals = []
    for members in shards:
        mm = _mm(*[(f"m{i}", "G1", 12) for i in members])
        raw = _raw(*[(f"m{i}", "G1", 100 * i) for i in members if i])
        totals.append(member_cost_totals(mm, raw, CostRules()))
    pct = Truncation(percentile=Decimal("0.9"))
    assert truncation_threshold(pct, totals) == 800
    assert truncation_threshold(pct, totals[1:]) == 900
    assert truncation_threshold(pct, []) == 0
    assert truncation_threshold(None, totals) is None


def test_rows_carry_entity_and_keep_costs_without_member_months() -> None:
    # m1 is attributed to E1 in both groups; m2 is unattributed (null entity); a cost row
    # with no member-month row (m3/G9, as from mismatched inputs) is kept with 0 months.
    mm = _mm(("m1", "G1", 3), ("m1", "G2", 9), ("m2", "G1", 12))
    raw = _raw(("m1", "G2", 500), ("m3", "G9", 70))
    out = member_costs(mm, raw, _attr(("m1", "E1"), ("m2", None)), CostRules())
    assert out.select(
        "member_id", "group_id", "entity_id", "member_month_units", "truncated_cost_cents"
    ).rows() == [
        ("m1", "G1", "E1", 3 * U, 0),
        ("m1", "G2", "E1", 9 * U, 500),
        ("m2", "G1", None, 12 * U, 0),
        ("m3", "G9", None, 0, 70),
    ]


def test_truncating_rules_need_a_threshold() -> None:
    with pytest.raises(ValueError, match="truncation_cents"):
        member_costs(_mm(), _raw(), _attr(), CostRules(truncation=Truncation(amount=Decimal(1))))
