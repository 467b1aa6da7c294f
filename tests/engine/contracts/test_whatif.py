"""What-if: the aggregates reader's errors, and a small hand-worked run."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from settle.engine.errors import AggregatesError, ContractError
from settle.engine.whatif import read_aggregates, whatif, write_whatif

HEADER = (
    "entity_id,attributed_members,member_months,benchmark_expenditure,actual_expenditure,"
    "quality_score,met_quality_standard"
)
DOC: dict[str, Any] = {
    "id": "w",
    "kind": "shared_savings",
    "terms": {
        "sharing_rate": 0.5,
        "min_savings_rate": 0.02,
        "savings_cap": 0.1,
        "risk": "two_sided",
        "loss_sharing_rate": 0.3,
        "loss_cap": 0.05,
    },
}


def _csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "agg.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_whatif_rows(tmp_path: Path) -> None:
    # E1: B 1,000,000, A 950,000 → G 50,000, r 0.05; final 0.5 × 0.8 = 0.4 → 20,000.
    # E2: B 1,000,000, A 1,100,000 → G −100,000 → 30% = 30,000; cap 5% = 50,000; relief 1,000.50
    #     → owed 28,999.50.
    # E3: r 0.01 < 0.02, and > −0.02: nothing.
    path = _csv(
        tmp_path,
        "E1,100,1200,1000000,950000,0.8,true,",
        "E2,100,1200,1000000.00,1100000,0.9,false,1000.50",
        "E3,100,1200,1000000,990000,0.9,1,",
        header=HEADER + ",loss_relief",
    )
    out = whatif(DOC, read_aggregates(path), source=str(path))
    assert out.column("entity_id").to_pylist() == ["E1", "E2", "E3"]
    assert out.column("settlement_amount").to_pylist() == [
        Decimal("20000.00"),
        Decimal("-28999.50"),
        Decimal("0.00"),
    ]
    assert out.column("threshold_met").to_pylist() == [True, True, False]
    assert out.column("savings_rate").to_pylist()[0] == Decimal("0.05")
    assert out.column("final_sharing_rate").to_pylist()[:2] == [Decimal("0.4"), Decimal("0")]
    write_whatif(out, tmp_path / "out.csv")
    assert "settlement_amount" in (tmp_path / "out.csv").read_text().splitlines()[0]


def test_parquet_input_with_numbers(tmp_path: Path) -> None:
    table = pa.table(
        {
            "entity_id": ["E1"],
            "attributed_members": [100],
            "member_months": [1200.0],
            "benchmark_expenditure": [1_000_000.0],
            "actual_expenditure": [950_000.25],
            "quality_score": [0.8],
            "met_quality_standard": [True],
            "min_savings_rate": [0.06],
        }
    )
    pq.write_table(table, tmp_path / "agg.parquet")
    out = whatif(DOC, read_aggregates(tmp_path / "agg.parquet"))
    # r = 49,999.75 / 1,000,000 < 0.06 (row override): nothing.
    assert out.column("min_savings_rate").to_pylist() == [Decimal("0.06")]
    assert out.column("settlement_cents").to_pylist() == [0]


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("E1,100,1200,1000000,950000,0.8,maybe", "row 1, column met_quality_standard: 'maybe' is not true"),
        (
            "E1,100,1200,1000000,950000.001,0.8,true",
            "row 1, column actual_expenditure: 950000.001 has a fraction",
        ),
        ("E1,100,1200,0,950000,0.8,true", "column benchmark_expenditure: must be a positive"),
        ("E1,10.5,1200,1000000,950000,0.8,true", "column attributed_members: 10.5 is not a whole number"),
        ("E1,100,1200,1000000,950000,1.2,true", "column quality_score: '1.2' must be between 0 and 1"),
        ("E1,100,abc,1000000,950000,0.8,true", "column member_months: 'abc' is not a number"),
        (",100,1200,1000000,950000,0.8,true", "row 1, column entity_id: is empty"),
    ],
)
def test_bad_cells_name_file_row_and_column(tmp_path: Path, row: str, words: str) -> None:
    path = _csv(tmp_path, row)
    with pytest.raises(AggregatesError) as info:
        whatif(DOC, read_aggregates(path), source=str(path))
    assert str(info.value).startswith(str(path)) and words in str(info.value)


def test_duplicate_entity_and_missing_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, "E1,1,12,100,90,1,true", "E1,1,12,100,90,1,true")
    with pytest.raises(AggregatesError, match="row 2, column entity_id: entity 'E1' repeats row 1"):
        whatif(DOC, read_aggregates(path))
    path = _csv(tmp_path, "E1,1,12,100,90", header=HEADER.rsplit(",", 2)[0])
    with pytest.raises(AggregatesError, match=r"column.*quality_score, met_quality_standard"):
        read_aggregates(path)
    with pytest.raises(AggregatesError, match="cannot read"):
        read_aggregates(tmp_path / "nope.csv")


def test_whatif_needs_shared_savings(tmp_path: Path) -> None:
    path = _csv(tmp_path, "E1,1,12,100,90,1,true")
    doc = {"id": "m", "kind": "margin_share", "terms": {"provider_share": 0.5}}
    with pytest.raises(ContractError, match="what-if settles kind shared_savings only"):
        whatif(doc, read_aggregates(path))
    with pytest.raises(ContractError, match=r"terms\.sharing_rate"):
        whatif({"id": "x", "kind": "shared_savings", "terms": {}}, read_aggregates(path))
