"""The inputs' checksums for the manifest, computed by a thread beside the job."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from settle.cluster.checksums import InputChecksums, checksum
from settle.engine.errors import SettleSystemError
from settle.engine.readers import list_input_files


def test_the_checksums_are_each_files_size_and_sha256_per_table_in_order(tmp_path: Path) -> None:
    payloads = {"b.parquet": b"x" * (5 << 20) + b"tail", "a.parquet": b"", "c.parquet": b"hello"}
    for name, data in payloads.items():
        (tmp_path / name).write_bytes(data)
    files = {
        "roster": list_input_files([str(tmp_path / "c.parquet")]),
        "claims": list_input_files([str(tmp_path / n) for n in ("b.parquet", "a.parquet")]),
    }
    got = InputChecksums(files).result()
    assert list(got) == ["claims", "roster"]
    for table, entries in got.items():
        assert [e["path"] for e in entries] == [f.display for f in files[table]]
        for entry, f in zip(entries, files[table], strict=True):
            data = payloads[Path(f.path).name]
            assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_cancelled_checksum_stops_before_its_next_chunk(tmp_path: Path) -> None:
    (tmp_path / "big.parquet").write_bytes(b"y" * (9 << 20))
    (f,) = list_input_files([str(tmp_path / "big.parquet")])
    cancelled = threading.Event()
    assert checksum(f, cancelled) == (9 << 20, hashlib.sha256(b"y" * (9 << 20)).hexdigest())
    cancelled.set()
    assert checksum(f, cancelled) is None


def test_checksums_cancelled_before_they_finish_are_not_handed_out(tmp_path: Path) -> None:
    (tmp_path / "big.parquet").write_bytes(b"y" * (256 << 20))
    checksums = InputChecksums({"claims": list_input_files([str(tmp_path / "big.parquet")])})
    checksums.cancel()  # 256 MiB take far longer to hash than this takes to run
    with pytest.raises(SettleSystemError, match="cancelled"):
        checksums.result()


def test_a_file_that_cannot_be_read_fails_the_job_when_its_checksum_is_asked_for(tmp_path: Path) -> None:
    (tmp_path / "gone.parquet").write_bytes(b"z")
    files = {"claims": list_input_files([str(tmp_path / "gone.parquet")])}
    (tmp_path / "gone.parquet").unlink()
    with pytest.raises(FileNotFoundError):
        InputChecksums(files).result()
