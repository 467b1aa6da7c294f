"""Spill files: written atomically with the job's compression, read back the same whatever it
is; the compression setting is checked and ``auto`` follows its documented rule."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from settle.cluster import spill
from settle.cluster.spill import (
    partitions_in,
    read_partition,
    read_spill,
    spill_compression,
    write_partitioned,
    write_spill,
)
from settle.engine.errors import ConfigurationError, SettleSystemError, UserError


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
    parts = [(3, table.slice(0, 400)), (7, table.slice(400))]
    write_partitioned(tmp_path / "two.arrow", table.schema, iter(parts), [3, 7], compression)
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
    # 1,000 claim lines spill about 100 kB raw: that fits any machine able to run the tests;
    # a trillion lines (100 TB) fits none.
    assert spill_compression(1_000, tmp_path, "auto") is None
    assert spill_compression(10**12, tmp_path, "auto") == "lz4"


def test_auto_limits_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Raw when lines x RAW_BYTES_PER_LINE is at most half the free disk; one line more
    compresses."""
    usage = namedtuple("usage", "total used free")
    per_line = spill.RAW_BYTES_PER_LINE
    monkeypatch.setattr(spill.shutil, "disk_usage", lambda _: usage(0, 0, 10_000 * per_line))  # 1/2: 5,000
    assert spill_compression(5_000, tmp_path, "auto") is None
    assert spill_compression(5_001, tmp_path, "auto") == "lz4"
    monkeypatch.setattr(spill.shutil, "disk_usage", lambda _: usage(0, 0, 4_000 * per_line))  # 1/2: 2,000
    assert spill_compression(2_000, tmp_path, "auto") is None
    assert spill_compression(2_001, tmp_path, "auto") == "lz4"


def test_a_partitioned_file_holds_a_record_batch_per_listed_partition(tmp_path: Path) -> None:
    """Partition p's rows come back from ``read_partition`` as they were written, whatever
    their place in the file; a partition the file does not list has no rows there."""
    table = _table()
    path = tmp_path / "pieces.arrow"
    cuts = {0: (0, 100), 5: (100, 0), 9: (100, 650), 130: (750, 250)}  # partition -> (start, rows)
    listed = [p for p, (_, n) in cuts.items() if n]  # an empty partition is not listed
    parts = ((p, table.slice(*cuts[p]).combine_chunks()) for p in listed)
    write_partitioned(path, table.schema, parts, listed, "lz4")
    assert partitions_in(path) == [0, 9, 130]
    with pa.memory_map(str(path)) as source:
        assert ipc.open_file(source).num_record_batches == 3
    for p, (start, rows) in cuts.items():
        got = read_partition(path, p)
        if rows == 0:
            assert got is None
        else:
            assert got is not None and got.equals(table.slice(start, rows))
            assert got.schema.metadata is None  # the partition list stays in the file
    assert read_partition(path, 1) is None
    assert read_spill(path).num_rows == 1_000


def test_a_partitioned_file_refuses_parts_out_of_the_listed_order_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    table = _table()
    parts = iter([(2, table.slice(0, 10)), (1, table.slice(10, 10))])
    with pytest.raises(SettleSystemError, match="partition 2 written where 1 was listed"):
        write_partitioned(tmp_path / "bad.arrow", table.schema, parts, [1, 2], None)
    assert list(tmp_path.iterdir()) == []
