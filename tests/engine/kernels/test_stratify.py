"""Aggregates per contract x entity x group and per entity, by stratifiers; cells add up."""

from __future__ import annotations

import polars as pl
import pytest

from settle.engine.errors import InvariantViolation
from settle.engine.kernels.member_months import MEMBER_MONTH_UNITS as U
from settle.engine.kernels.risk import with_risk
from settle.engine.kernels.stratify import Aggregates, aggregate, check_aggregates, stratify
from tests.engine.kernels.builders import scores


def _rows() -> pl.DataFrame:
    # member, group, entity, months, raw, truncated, dual status
    data = [
        ("a", "G1", "E1", 12, 1000, 900, "00"),
        ("b", "G1", "E1", 6, 2000, 2000, "02"),
        ("b", "G2", "E1", 6, 3000, 3000, "02"),
        ("c", "G2", "E2", 12, 500, 500, "00"),
        ("d", "G1", None, 12, 700, 700, "00"),
    ]
    return pl.DataFrame(
        {
            "member_id": [r[0] for r in data],
            "group_id": [r[1] for r in data],
            "entity_id": [r[2] for r in data],
            "member_days": [30 * r[3] for r in data],
            "member_month_units": [U * r[3] for r in data],
            "raw_cost_cents": [r[4] for r in data],
            "completed_cost_cents": [r[4] for r in data],
            "truncated_cost_cents": [r[5] for r in data],
            "dual_status_code": [r[6] for r in data],
        },
        schema_overrides={"entity_id": pl.String},
    )


def test_cells_and_entity_totals() -> None:
    # E1/G1: a + b -> 2 members, 18 months, raw 3000, truncated 2900.
    # E1/G2: b -> 1 member, 6 months, raw 3000.
    # E1 total: 2 distinct members (b counted once), 24 months, raw 6000, truncated 5900.
    # E2/G2: c.  Unattributed (null entity): d.
    agg = aggregate(_rows(), "ssp-1")
    columns = ["contract_id", "entity_id", "group_id", "attributed_members", "member_month_units"]
    cells = agg.cells.select(*columns, "raw_cost_cents", "truncated_cost_cents").rows()
    assert cells == [
        ("ssp-1", "E1", "G1", 2, 18 * U, 3000, 2900),
        ("ssp-1", "E1", "G2", 1, 6 * U, 3000, 3000),
        ("ssp-1", "E2", "G2", 1, 12 * U, 500, 500),
        ("ssp-1", None, "G1", 1, 12 * U, 700, 700),
    ]
    entities = agg.entities.select("entity_id", "attributed_members", "member_month_units", "raw_cost_cents",
                                   "truncated_cost_cents").rows()  # fmt: skip
    assert entities == [
        ("E1", 2, 24 * U, 6000, 5900),
        ("E2", 1, 12 * U, 500, 500),
        (None, 1, 12 * U, 700, 700),
    ]
    check_aggregates(agg)


def test_by_stratifier() -> None:
    # E1 by dual status: '00' -> a (12 months, raw 1000); '02' -> b over both groups
    # (12 months, raw 5000).
    agg = stratify(_rows(), "ssp-1", ["dual_status_code"])
    e1 = agg.entities.filter(pl.col("entity_id") == "E1")
    assert e1.select(
        "dual_status_code", "attributed_members", "member_month_units", "raw_cost_cents"
    ).rows() == [
        ("00", 1, 12 * U, 1000),
        ("02", 1, 12 * U, 5000),
    ]
    check_aggregates(agg, by=["dual_status_code"])


def test_risk_sums_are_exact_decimals() -> None:
    # E1: a 1.5 x 12 months + b 0.5 x 12 months -> weighted units (18 + 6) x U x 10^6.
    rows = with_risk(_rows(), scores(("a", "2025", 1.5), ("b", "2025", 0.5)), "2025")
    e1 = aggregate(rows, "c").entities.filter(pl.col("entity_id") == "E1").row(0, named=True)
    assert int(e1["risk_weighted_units"]) == 24 * U * 1_000_000
    assert e1["risk_member_month_units"] == 24 * U
    assert str(aggregate(rows, "c").entities.to_arrow().schema.field("risk_weighted_units").type) == (
        "decimal128(38, 0)"
    )


def test_check_catches_cells_that_do_not_add_up() -> None:
    agg = aggregate(_rows(), "c")
    broken = Aggregates(
        cells=agg.cells.with_columns(
            pl.when(pl.col("group_id") == "G2")
            .then(pl.col("raw_cost_cents") + 1)
            .otherwise(pl.col("raw_cost_cents"))
        ),
        entities=agg.entities,
    )
    with pytest.raises(InvariantViolation, match="raw_cost_cents"):
        check_aggregates(broken)
