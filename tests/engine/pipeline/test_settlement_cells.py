"""Settlement cells: per contract x entity x group sums, distinct members, additive over shards."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from settle.engine.pipeline.reduce import combine_cells, settlement_cells

MMU = 377_580  # member-month units of one member month


def _rows() -> pl.DataFrame:
    # M1 moved from G1 to G2 mid-year (6 months each), both attributed to E1; M2 in G1 for E1;
    # M3 in G2 unattributed.  Risk scores in micro-units: M1 1.2, M2 0.8, M3 none.
    return pl.DataFrame(
        {
            "contract_id": ["c"] * 4,
            "member_id": ["M1", "M1", "M2", "M3"],
            "group_id": ["G1", "G2", "G1", "G2"],
            "entity_id": ["E1", "E1", "E1", None],
            "member_month_units": [6 * MMU, 6 * MMU, 12 * MMU, 12 * MMU],
            "truncated_cost_cents": [1000, 3000, 500, 700],
            "risk_score_micro": [1_200_000, 1_200_000, 800_000, None],
            "risk_weighted_units": [1_200_000 * 6 * MMU, 1_200_000 * 6 * MMU, 800_000 * 12 * MMU, None],
            "baseline_risk_weighted_units": [None, None, 1_000_000 * 12 * MMU, None],
        }
    )


def test_hand_cells() -> None:
    figures = settlement_cells(_rows())
    cells = {(r["entity_id"], r["group_id"]): r for r in figures.cells.to_dicts()}
    # E1 x G1: M1 (6 months, $10.00) and M2 (12 months, $5.00): 2 members, 18 months, $15.00.
    assert cells[("E1", "G1")]["attributed_members"] == 2
    assert cells[("E1", "G1")]["member_month_units"] == 18 * MMU
    assert cells[("E1", "G1")]["actual_cents"] == 1500
    # Risk sums: 1.2 x 6 + 0.8 x 12 = 16.8 score-months over 18 scored months.
    assert cells[("E1", "G1")]["rw"] == (1_200_000 * 6 + 800_000 * 12) * MMU
    assert cells[("E1", "G1")]["rmm"] == 18 * MMU
    # Baseline: only M2 has a baseline score (1.0 over 12 months).
    assert (cells[("E1", "G1")]["brw"], cells[("E1", "G1")]["brmm"]) == (1_000_000 * 12 * MMU, 12 * MMU)
    assert cells[("E1", "G2")]["attributed_members"] == 1
    assert cells[(None, "G2")]["rmm"] == 0
    # E1 has two distinct members, although M1 is in both of its group cells.
    assert figures.entity_members.to_dicts() == [
        {"contract_id": "c", "entity_id": "E1", "attributed_members": 2}
    ]


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=4, max_size=4))
def test_shards_add_up(assignment: list[int]) -> None:
    rows = _rows().with_columns(pl.Series("shard", assignment))
    # A member's rows stay in one shard (members are shard-local): one shard per member id.
    shard_of = {m: s for m, s in zip(rows["member_id"], assignment, strict=True)}
    rows = rows.with_columns(pl.col("member_id").replace_strict(shard_of).alias("shard"))
    parts = [settlement_cells(part.drop("shard")) for part in rows.partition_by("shard")]
    whole = settlement_cells(_rows())
    combined = combine_cells(parts)
    assert_frame_equal(combined.cells, whole.cells)
    assert_frame_equal(combined.entity_members, whole.entity_members)
