"""Spill files written with O_DIRECT hold exactly the bytes written, whatever the sizes of the
writes and however they fall across the aligned buffer; a refused O_DIRECT falls back."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.cluster import direct_io
from settle.cluster.direct_io import BLOCK, CACHED_SHARE, DirectFile, open_spill, spill_direct
from settle.cluster.spill import read_partition, write_partitioned
from settle.engine.errors import ConfigurationError


@pytest.fixture
def small_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A buffer of two blocks, so that a few kilobytes cross it many times."""
    monkeypatch.setattr(direct_io, "CHUNK", 2 * BLOCK)
    monkeypatch.setattr(direct_io, "_buffers", {})


@pytest.mark.usefixtures("small_buffer")
@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=3 * BLOCK + 7), max_size=8), seed=st.integers(0, 255)
)
def test_the_file_holds_exactly_what_was_written(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], seed: int
) -> None:
    path = tmp_path_factory.mktemp("direct") / "piece.bin"
    writes = [bytes((seed + i + j) % 256 for j in range(n)) for i, n in enumerate(sizes)]
    sink = open_spill(path)
    assert isinstance(sink, DirectFile)  # /tmp takes O_DIRECT on this machine kind
    for data in writes:
        assert sink.write(data) == len(data)
    assert sink.tell() == sum(sizes)
    sink.close()
    sink.close()  # closing twice is harmless
    assert path.read_bytes() == b"".join(writes)


def _refuse_o_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refusing(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refusing)


def test_a_piece_file_written_directly_is_the_buffered_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte for byte the file a buffered write makes (not padded to a block), and it reads back."""
    table = pa.table({"member_id": pa.array([f"M{i:05d}" for i in range(5000)]), "n": pa.array(range(5000))})
    parts = [(2, table.slice(0, 3000)), (7, table.slice(3000))]
    direct, buffered = tmp_path / "direct.arrow", tmp_path / "buffered.arrow"
    write_partitioned(direct, table.schema, parts, [2, 7], None)
    with monkeypatch.context() as patched:
        _refuse_o_direct(patched)
        write_partitioned(buffered, table.schema, parts, [2, 7], None)
    assert direct.read_bytes() == buffered.read_bytes()
    assert os.path.getsize(direct) % BLOCK != 0  # this table's file does not end on a block
    first, second = read_partition(direct, 2, will_need=True), read_partition(direct, 7)
    assert first is not None and second is not None
    assert pa.concat_tables([first, second]).equals(table)
    assert read_partition(direct, 3, will_need=True) is None


def test_a_file_system_that_refuses_o_direct_gets_a_buffered_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refuse_o_direct(monkeypatch)
    sink = open_spill(tmp_path / "piece.bin")
    assert not isinstance(sink, DirectFile)
    sink.write(b"abc")
    sink.close()
    assert (tmp_path / "piece.bin").read_bytes() == b"abc"


def test_a_file_read_back_at_once_is_opened_buffered_when_asked(tmp_path: Path) -> None:
    """``direct=False`` (the settle stage's batch files, read by the driver within seconds)
    gives an ordinary buffered file, whatever the file system takes."""
    sink = open_spill(tmp_path / "batch.bin", direct=False)
    assert not isinstance(sink, DirectFile)
    sink.write(b"xyz")
    sink.close()
    assert (tmp_path / "batch.bin").read_bytes() == b"xyz"


def test_auto_spills_through_the_cache_only_what_fits_a_quarter_of_available_memory() -> None:
    gb = 1 << 30
    assert CACHED_SHARE == 4
    assert spill_direct(4 * gb, "auto", available=16 * gb) is False  # exactly a quarter
    assert spill_direct(4 * gb + 1, "auto", available=16 * gb) is True
    assert spill_direct(0, "auto", available=16 * gb) is False


def test_always_and_never_override_the_estimate() -> None:
    assert spill_direct(1, "always", available=1 << 40) is True
    assert spill_direct(1 << 40, "never", available=1) is False
    assert spill_direct(1 << 40, " Never ", available=1) is False  # as an environment gives it


def test_the_setting_comes_from_the_environment_and_a_bad_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SETTLE_SPILL_DIRECT", "never")
    assert spill_direct(1 << 40, available=1) is False
    monkeypatch.setenv("SETTLE_SPILL_DIRECT", "sometimes")
    with pytest.raises(ConfigurationError, match="SETTLE_SPILL_DIRECT is 'sometimes'") as raised:
        spill_direct(1)
    assert raised.value.variable == "SETTLE_SPILL_DIRECT"


def test_unknown_available_memory_goes_around_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SETTLE_SPILL_DIRECT", raising=False)
    monkeypatch.setattr(direct_io, "_available_memory", lambda: None)
    assert spill_direct(1) is True


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="MemAvailable is Linux's")
def test_available_memory_is_read_from_the_kernel() -> None:
    memory = direct_io._available_memory()
    assert memory is not None and 0 < memory <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
