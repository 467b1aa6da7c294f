"""`settle whatif`: the public what-if path at the command line."""

import csv
import subprocess
import sys
from pathlib import Path

CONTRACT = """
id: acme-ssp
kind: shared_savings
terms:
  benchmark: {pmpm: 1000}
  risk: one_sided
  min_savings_rate: 0.02
  sharing_rate: 0.5
  quality_mode: scale
  savings_cap: 0.10
  first_dollar: true
  sequestration: 0.02
"""
AGGREGATES = (
    "entity_id,attributed_members,member_months,benchmark_expenditure,actual_expenditure,"
    "quality_score,met_quality_standard\n"
    "A001,10000,120000,120000000,110000000,0.9,true\n"
    "A002,6000,72000,72000000,71000000,0.9,true\n"
)


def _settle(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settle.api.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_whatif_writes_hand_checked_settlements(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONTRACT)
    (tmp_path / "agg.csv").write_text(AGGREGATES)
    result = _settle("whatif", "c.yaml", "agg.csv", "-o", "out.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with (tmp_path / "out.csv").open() as handle:
        rows = {r["entity_id"]: r for r in csv.DictReader(handle)}
    # A001: G = 120,000,000 - 110,000,000 = 10,000,000; r = 8.33% >= 2% MSR.
    # final rate = 50% x 0.9 = 45%; earned = 0.98 x 10,000,000 x 0.45 = 4,410,000
    # (below the cap 10% x 120,000,000 = 12,000,000).
    assert rows["A001"]["gross_savings"] == "10000000.00"
    assert rows["A001"]["settlement_amount"] == "4410000.00"
    # A002: G = 1,000,000; r = 1.39% < 2%: nothing is shared.
    assert rows["A002"]["threshold_met"].lower() == "false"
    assert rows["A002"]["settlement_amount"] == "0.00"


def test_whatif_bad_contract_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONTRACT.replace("quality_mode: scale", "quality_mode: sometimes"))
    (tmp_path / "agg.csv").write_text(AGGREGATES)
    result = _settle("whatif", "c.yaml", "agg.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "quality_mode" in result.stderr
    assert "Traceback" not in result.stderr


def test_whatif_bad_aggregates_cell_names_row_and_column(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONTRACT)
    (tmp_path / "agg.csv").write_text(AGGREGATES.replace("110000000,0.9", "11O000000,0.9"))
    result = _settle("whatif", "c.yaml", "agg.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "actual_expenditure" in result.stderr
    assert "row 1" in result.stderr
    assert "Traceback" not in result.stderr
