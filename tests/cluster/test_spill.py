"""Spill files: written atomically with the job's compression, read back the same whatever it
is; the compression setting is checked and ``auto`` follows its documented rule."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from settle.cluster.spill import SpillWriter, read_spill, spill_compression, write_spill
from settle.engine.errors import ConfigurationError, UserError


def _table() -> pa.Table:
    names = pa.array(["a.parquet", "b.parquet"], pa.string())
    return pa.table(
        {
            "member_id": pa.array([f"M{i:07d}" for i in range(1_000)], pa.string()),
            "paid_cents": pa.array(range(1_000), pa.int64()),
            "_source_file": pa.DictionaryArray.from_arrays(
                pa.array([i % 2 for i in range(1_000)], pa.int32()), names
            ),
        }
    )


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_a_spill_file_reads_back_equal_under_every_compression(
    tmp_path: Path, compression: str | None
) -> None:
    table = _table()
    path = tmp_path / "one" / "t.arrow"
    write_spill(table, path, compression)
    with SpillWriter(tmp_path / "two.arrow", table.schema, compression) as writer:
        writer.write(table.slice(0, 400))
        writer.write(table.slice(400))
    assert read_spill(path).equals(table)
    assert read_spill(tmp_path / "two.arrow").equals(table)
    assert read_spill(path, columns=["paid_cents"]).column_names == ["paid_cents"]
    # Written through temporary names, nothing else is left behind.
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["one", "t.arrow", "two.arrow"]


def test_an_uncompressed_spill_stays_readable_after_its_file_is_removed(tmp_path: Path) -> None:
    """Uncompressed files are memory-mapped; the work folder's spent pieces are removed while
    tables read from them may still be alive."""
    path = tmp_path / "t.arrow"
    write_spill(_table(), path, None)
    table = read_spill(path)
    path.unlink()
    assert table.equals(_table())
    assert sum(table["paid_cents"].to_pylist()) == 999 * 1_000 // 2


def test_compression_is_smaller_than_none(tmp_path: Path) -> None:
    write_spill(_table(), tmp_path / "raw.arrow", None)
    write_spill(_table(), tmp_path / "lz4.arrow", "lz4")
    assert (tmp_path / "lz4.arrow").stat().st_size < (tmp_path / "raw.arrow").stat().st_size


@pytest.mark.parametrize(("setting", "expected"), [("none", None), ("lz4", "lz4"), (" ZSTD ", "zstd")])
def test_an_explicit_setting_is_used_as_it_is(tmp_path: Path, setting: str, expected: str | None) -> None:
    assert spill_compression(10**12, tmp_path, setting) == expected
    assert spill_compression(1, tmp_path, setting) == expected


def test_the_environment_variable_is_the_default_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SETTLE_SPILL_COMPRESSION", "lz4")
    assert spill_compression(1, tmp_path) == "lz4"
    monkeypatch.setenv("SETTLE_SPILL_COMPRESSION", "snappy")
    with pytest.raises(ConfigurationError) as raised:
        spill_compression(1, tmp_path)
    assert isinstance(raised.value, UserError)
    assert raised.value.variable == "SETTLE_SPILL_COMPRESSION"
    assert "'snappy'" in str(raised.value) and "auto, none, lz4, zstd" in str(raised.value)


def test_auto_spills_raw_when_the_spill_fits_and_compresses_when_it_does_not(tmp_path: Path) -> None:
    # 1,000 claim lines spill about 180 kB raw: that fits any machine able to run the tests;
    # a trillion lines (180 TB) fits none.
    assert spill_compression(1_000, tmp_path, "auto") is None
    assert spill_compression(10**12, tmp_path, "auto") == "lz4"


def test_a_writer_writes_what_it_holds_as_one_record_batch_per_flush(tmp_path: Path) -> None:
    """Slices written one by one come back as one record batch per flush, in order."""
    table = _table()
    path = tmp_path / "batched.arrow"
    with SpillWriter(path, table.schema, "lz4") as writer:
        for start in range(0, 600, 100):
            writer.write(table.slice(start, 100))
        assert writer.pending_rows == 600
        writer.flush()
        assert writer.pending_rows == 0
        writer.write(table.slice(600, 0))  # an empty slice adds no batch
        writer.write(table.slice(600))
    with pa.memory_map(str(path)) as source:
        reader = ipc.open_file(source)
        assert [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)] == [600, 400]
    assert read_spill(path).equals(table)


def test_a_discarded_writer_leaves_nothing_and_writes_nothing_it_held(tmp_path: Path) -> None:
    table = _table()
    writer = SpillWriter(tmp_path / "gone.arrow", table.schema, None)
    writer.write(table)
    writer.discard()
    assert list(tmp_path.iterdir()) == []
