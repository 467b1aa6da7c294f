"""The vectorised largest-remainder split agrees with money.allocate, group by group."""

from __future__ import annotations

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from settle.engine.kernels.allocation import allocate_by
from settle.engine.money import allocate


def _split(groups: list[tuple[int, list[int]]]) -> dict[int, list[int]]:
    rows = [
        {"g": g, "i": i, "total": total, "w": w}
        for g, (total, weights) in enumerate(groups)
        for i, w in enumerate(weights)
    ]
    frame = pl.DataFrame(rows, schema={"g": pl.Int64, "i": pl.Int64, "total": pl.Int64, "w": pl.Int64})
    out = allocate_by(frame.lazy(), total="total", weight="w", by=["g"], order=["i"], out="part").collect()
    result: dict[int, list[int]] = {}
    for row in out.sort("g", "i").iter_rows(named=True):
        result.setdefault(row["g"], []).append(row["part"])
    return result


def test_hand_split_ties_go_to_the_earlier_row() -> None:
    # 100 over weights 1,1,1: floors 33,33,33, one cent left; all remainders 1/3 -> row 0.
    # 10 over weights 3,0,7: exact 3, 0, 7.
    # -100 over 1,1,1: mirror of 100 -> -34, -33, -33.
    # 5 over 0,0: all-zero weights split equally: 2.5 each -> 3, 2.
    assert _split([(100, [1, 1, 1]), (10, [3, 0, 7]), (-100, [1, 1, 1]), (5, [0, 0])]) == {
        0: [34, 33, 33],
        1: [3, 0, 7],
        2: [-34, -33, -33],
        3: [3, 2],
    }


def test_a_group_of_one_row_gets_its_total_whatever_its_weight() -> None:
    # Beside groups of several rows: 7 over a zero weight, -5 over 3, 0 over 9.
    assert _split([(7, [0]), (10, [1, 1]), (-5, [3]), (0, [9])]) == {0: [7], 1: [5, 5], 2: [-5], 3: [0]}


def test_largest_remainder_wins_over_order() -> None:
    # 10 over 1,2,4 (W=7): exact 1.43, 2.86, 5.71 -> floors 1,2,5 (8); remainders 3/7, 6/7, 5/7
    # -> the 2 cents left go to row 1 (6/7) and row 2 (5/7): 1, 3, 6.
    assert _split([(10, [1, 2, 4])]) == {0: [1, 3, 6]}


def test_large_products_do_not_overflow() -> None:
    # 10^15 cents x weight 10^12 = 10^27 needs 128-bit arithmetic; halves exactly.
    assert _split([(10**15, [10**12, 10**12])]) == {0: [5 * 10**14, 5 * 10**14]}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-(10**12), max_value=10**12),
            st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=8,
    )
)
@example([(0, [0])])
@example([(7, [0, 0, 0])])
def test_matches_money_allocate(groups: list[tuple[int, list[int]]]) -> None:
    got = _split(groups)
    for g, (total, weights) in enumerate(groups):
        assert got[g] == allocate(total, weights)
