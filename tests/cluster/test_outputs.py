"""Outputs are published in one step, with checksums, and identical bytes on a re-run."""

import hashlib
import json
from pathlib import Path

import pyarrow as pa

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
