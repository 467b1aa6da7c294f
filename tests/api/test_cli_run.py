"""`settle synth`, `settle validate` and `settle run` end to end, through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest


def _settle(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settle.api.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("book")
    result = _settle("synth", "--members", "1000", "--seed", "11", "--out", str(root), cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def test_run_writes_every_output_and_counts_every_row(book: Path, tmp_path: Path) -> None:
    result = _settle("run", str(book / "job.yaml"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "attribution.parquet",
        "ledger.parquet",
        "manifest.json",
        "member_costs.parquet",
        "rejects.parquet",
        "statements.json",
        "statements.parquet",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    for table, counts in manifest["counts"]["tables"].items():
        assert counts["accepted"] + counts["rejected"] == counts["read"], table
    # Every contract kind of the synthetic contracts settled at least one statement.
    kinds = {s["kind"] for s in json.loads((out / "statements.json").read_text())}
    assert kinds == {"shared_savings", "withhold", "bonus_pool", "population_payment", "margin_share"}
    # The ledger is double entry in integer cents: every account's flows net to zero overall.
    ledger = pq.read_table(out / "ledger.parquet").to_pylist()
    assert all(isinstance(e["amount_cents"], int) and e["amount_cents"] > 0 for e in ledger)
    for name in ("statements.json", "ledger.parquet", "member_costs.parquet"):
        entry = next(o for o in manifest["outputs"] if o["name"] == name)
        assert entry["bytes"] == (out / name).stat().st_size


def test_rerun_is_byte_identical(book: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = _settle("run", str(book / "job.yaml"), "--out", str(tmp_path / name), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_validate_json_counts(book: Path) -> None:
    result = _settle("validate", str(book / "job.yaml"), "--json", cwd=book)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["read"] == report["accepted"] + report["rejected"]
    assert report["tables"]["medical_claim"]["read"] > 1000 * 10


def test_validate_names_file_and_column_of_an_unreadable_table(book: Path, tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text("tin,effective_date\n123456789,2025-01-01\n")  # no entity_id
    bad = f"roster: {tmp_path / 'roster.csv'}"
    job = (book / "job.yaml").read_text().replace("roster: roster.parquet", bad)
    (book / "job-bad-roster.yaml").write_text(job)
    result = _settle("validate", str(book / "job-bad-roster.yaml"), cwd=book)
    assert result.returncode == 2
    assert "roster.csv" in result.stderr and "entity_id" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_bad_job_document_exits_2_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(
        "name: x\nperiod: {start: 2025-01-01, end: 2025-12-31, runout_months: 99}\n"
        "inputs: {eligibility: e, medical_claim: m, roster: r}\ncontracts: []\n"
    )
    result = _settle("run", "job.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "period.runout_months" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_input_names_the_path(book: Path, tmp_path: Path) -> None:
    job = (book / "job.yaml").read_text().replace("roster: roster.parquet", "roster: nowhere/roster.parquet")
    (book / "job-missing.yaml").write_text(job)
    result = _settle("run", str(book / "job-missing.yaml"), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere/roster.parquet" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
