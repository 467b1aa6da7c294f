"""Outputs are published in one step, with checksums, and identical bytes on a re-run."""

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from settle.cluster.outputs import OutputWriter


def _write(dest: Path, n: int) -> str:
    writer = OutputWriter(str(dest))
    writer.write_parquet("ledger", pa.table({"amount_cents": pa.array(range(n), pa.int64())}))
    writer.write_json("statements", [{"b": 2, "a": 1}])
    return writer.commit({"job": "demo"})


def test_nothing_visible_before_commit(tmp_path: Path) -> None:
    dest = tmp_path / "result"
    writer = OutputWriter(str(dest))
    writer.write_parquet("ledger", pa.table({"x": [1]}))
    assert not dest.exists()
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_commit_publishes_manifest_with_checksums(tmp_path: Path) -> None:
    dest = tmp_path / "result"
    _write(dest, 5)
    manifest = json.loads((dest / "manifest.json").read_text())
    names = [o["name"] for o in manifest["outputs"]]
    assert names == ["ledger.parquet", "statements.json"]
    for entry in manifest["outputs"]:
        data = (dest / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    assert manifest["outputs"][0]["rows"] == 5


def test_rerun_is_byte_identical_and_replaces_whole_result(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _write(first, 7)
    _write(second, 7)
    for name in ("ledger.parquet", "statements.json", "manifest.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    # Re-publishing onto an existing destination swaps the whole folder.
    (first / "stale.txt").write_text("old")
    _write(first, 3)
    assert not (first / "stale.txt").exists()
    assert json.loads((first / "manifest.json").read_text())["outputs"][0]["rows"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_parquet_sink_writes_its_parts_and_a_failed_one_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "result"
    writer = OutputWriter(str(dest))
    schema = pa.schema([("amount_cents", pa.int64())])
    with writer.parquet_sink("ledger", schema) as sink:
        sink.write(pa.table({"amount_cents": pa.array([1, 2], pa.int32())}))  # cast to the schema
        sink.write(pa.table({"amount_cents": pa.array([3], pa.int64())}))
    with pytest.raises(RuntimeError), writer.parquet_sink("statements", schema) as broken:
        broken.write(pa.table({"amount_cents": pa.array([9], pa.int64())}))
        raise RuntimeError("settling failed")
    writer.commit({"job": "demo"})
    assert pq.read_table(dest / "ledger.parquet").equals(pa.table({"amount_cents": [1, 2, 3]}, schema=schema))
    assert not (dest / "statements.parquet").exists()
    manifest = json.loads((dest / "manifest.json").read_text())
    assert [(o["name"], o["rows"]) for o in manifest["outputs"]] == [("ledger.parquet", 3)]


def test_member_ids_and_amounts_are_written_without_a_dictionary(tmp_path: Path) -> None:
    table = pa.table(
        {
            "contract_id": ["c"] * 4,
            "member_id": ["m1", "m2", "m3", "m4"],
            "group_id": ["g1", "g1", "g2", "g2"],
            "raw_cost_cents": pa.array([10, 20, 30, 40], pa.int64()),
            "member_month_units": pa.array([1, 1, 2, 2], pa.int64()),
        }
    )
    writer = OutputWriter(str(tmp_path / "out"))
    writer.write_parquet("member_costs", table)
    with writer.parquet_sink("ledger", table.schema) as sink:
        sink.write(table)
    writer.commit({"job": "demo"})
    for name in ("member_costs.parquet", "ledger.parquet"):
        meta = pq.ParquetFile(tmp_path / "out" / name).metadata
        columns = meta.row_group(0)
        dictionary = {
            columns.column(i).path_in_schema: "RLE_DICTIONARY" in columns.column(i).encodings
            for i in range(columns.num_columns)
        }
        assert dictionary == {
            "contract_id": True,
            "member_id": False,
            "group_id": True,
            "raw_cost_cents": False,
            "member_month_units": True,
        }, name
        assert pq.read_table(tmp_path / "out" / name).equals(table)
