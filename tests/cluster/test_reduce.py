"""MemberCostCells: the partitions' member costs reduced as their shards finish, in any order
and any grouping, give the settlement cells of all the rows reduced at once."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from settle.cluster import reduce
from settle.cluster.reduce import MemberCostCells
from settle.cluster.spill import SUFFIX, write_spill
from settle.engine.pipeline.reduce import settlement_cells

MMU = 377_580
PARTITIONS = 6

ROW = st.fixed_dictionaries(
    {
        "entity": st.sampled_from(["E1", "E2", None]),
        "group": st.sampled_from(["G1", "G2", "G3"]),
        "months": st.integers(min_value=0, max_value=12),
        "cost": st.integers(min_value=-10_000, max_value=10_000_000),
    }
)


def _member_costs(rows: list[dict[str, object]], partition: int) -> pl.DataFrame:
    """Rows of one partition: its own members (a member belongs to one partition)."""
    return pl.DataFrame(
        {
            "contract_id": ["c"] * len(rows),
            "member_id": [f"P{partition}-M{i % 3}" for i in range(len(rows))],
            "group_id": [r["group"] for r in rows],
            "entity_id": [r["entity"] for r in rows],
            "member_month_units": [int(r["months"]) * MMU for r in rows],  # type: ignore[call-overload]
            "truncated_cost_cents": [r["cost"] for r in rows],
        },
        schema_overrides={"entity_id": pl.String},
    )


@settings(max_examples=40, deadline=None)
@given(
    parts=st.lists(st.lists(ROW, max_size=8), min_size=PARTITIONS, max_size=PARTITIONS),
    order=st.permutations(range(PARTITIONS)),
    batch=st.integers(min_value=1, max_value=PARTITIONS),
    fold_rows=st.sampled_from([0, 3, 2_000_000]),
)
def test_cells_added_in_any_order_and_grouping_equal_all_rows_at_once(
    tmp_path_factory: pytest.TempPathFactory,
    parts: list[list[dict[str, object]]],
    order: list[int],
    batch: int,
    fold_rows: int,
) -> None:
    work = tmp_path_factory.mktemp("work")
    frames = []
    for p, rows in enumerate(parts):
        if not rows:
            continue  # a partition without member costs has no part file
        frame = _member_costs(rows, p)
        frames.append(frame)
        write_spill(frame.to_arrow(), work / "parts" / "member_costs" / f"part-{p:06d}{SUFFIX}", None)
    expected = settlement_cells(pl.concat(frames) if frames else pl.DataFrame())

    original = reduce.FOLD_ROWS
    reduce.FOLD_ROWS = fold_rows  # fold after every part, after a few, or never
    try:
        cells = MemberCostCells(Path(work), PARTITIONS)
        added = order[: len(order) - len(order) % batch or len(order)]
        for start in range(0, len(added), batch):
            cells.add(added[start : start + batch])
        cells.add(added[:1])  # a partition added twice counts once
        got = cells.result()  # adds the partitions left out above
    finally:
        reduce.FOLD_ROWS = original
    assert_frame_equal(got.cells, expected.cells)
    assert_frame_equal(got.entity_members, expected.entity_members)


def test_two_partitions_by_hand(tmp_path: Path) -> None:
    """Partition 0: M1 in G1 for E1 (12 months, $10.00); partition 1: M2 in G1 for E1 (6
    months, $5.00) and M3 in G2 unattributed.  E1 x G1: 2 members, 18 months, $15.00."""
    rows0 = [{"entity": "E1", "group": "G1", "months": 12, "cost": 1000}]
    rows1 = [
        {"entity": "E1", "group": "G1", "months": 6, "cost": 500},
        {"entity": None, "group": "G2", "months": 12, "cost": 700},
    ]
    for p, rows in enumerate([rows0, rows1]):
        frame = _member_costs(rows, p)
        write_spill(frame.to_arrow(), tmp_path / "parts" / "member_costs" / f"part-{p:06d}{SUFFIX}", None)
    cells = MemberCostCells(tmp_path, 2)
    cells.add([1])
    got = cells.result()
    e1 = got.cells.filter(pl.col("entity_id") == "E1").row(0, named=True)
    assert (e1["group_id"], e1["attributed_members"], e1["member_month_units"], e1["actual_cents"]) == (
        "G1",
        2,
        18 * MMU,
        1500,
    )
    assert got.entity_members.filter(pl.col("entity_id") == "E1")["attributed_members"].to_list() == [2]
