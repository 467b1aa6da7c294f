"""The member hash, the partition count and the packing of partitions into shards."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyarrow.fs import LocalFileSystem

from settle.cluster import partitioning
from settle.cluster.partitioning import partition_count, partitions_of, stable_hash
from settle.cluster.plan import (
    TASK_BYTES,
    _row_group_runs,
    default_shards,
    input_tasks,
    largest_first,
    pack,
    task_bytes,
)
from settle.engine.readers import InputFile

_MASK = (1 << 64) - 1


def _reference(text: str) -> int:
    """FNV-1a 64 then MurmurHash3's fmix64, one byte at a time in plain Python."""
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK
    return h ^ (h >> 33)


@given(st.lists(st.text(max_size=30), max_size=40))
def test_hash_is_fnv1a_then_fmix64(values: list[str]) -> None:
    assert [int(h) for h in stable_hash(pa.array(values, pa.string()))] == [_reference(v) for v in values]


@given(
    st.integers(min_value=0, max_value=12).flatmap(
        lambda n: st.lists(st.text(alphabet="0123456789ABCMZ", min_size=n, max_size=n), max_size=40)
    ),
    st.integers(min_value=0, max_value=3),
)
def test_hash_of_ids_of_one_length_and_of_a_slice(values: list[str], cut: int) -> None:
    # Ids of equal byte length take the matrix path; a slice starts at a non-zero offset.
    whole = pa.array(["pad"] * cut + values, pa.string())
    chunked = pa.chunked_array([whole.slice(cut)])
    assert [int(h) for h in stable_hash(chunked)] == [_reference(v) for v in values]


def test_hash_of_nulls_and_mixed_lengths() -> None:
    values = ["M1", None, "", "M0000000001", "é", None, "M2"]
    expected = [_reference(v or "") for v in values]
    assert [int(h) for h in stable_hash(pa.array(values, pa.string()))] == expected


def test_partition_of_the_canonical_member_id() -> None:
    # " M1" is M1 once stripped, as validation parses it; a missing id goes to partition 0.
    raw = pa.table({"member_id": [" M1", "M1", None, ""]})
    parts = partitions_of(raw, "medical_claim", 8)
    assert parts[0] == parts[1] == _reference("M1") % 8
    assert list(parts[2:]) == [0, 0]


def test_partition_count_is_the_lines_over_the_partition_size_rounded_up() -> None:
    assert partition_count(0) == 1
    assert partition_count(2_000_000) == 1  # ceil(2M / 2M) = 1
    assert partition_count(2_000_001) == 2  # ceil = 2
    assert partition_count(28_800_000) == 15  # ceil(14.4) = 15
    assert partition_count(26_000, 2_000) == 13
    assert partition_count(281_800_000) == 141  # the 10M-member book: ceil(140.9)


def test_default_shards_hold_about_two_million_lines_each() -> None:
    assert default_shards(0) == 1
    assert default_shards(2_000_000) == 1  # one shard: no partition stage
    assert default_shards(2_000_001) == 2
    assert default_shards(28_189_880) == 15  # the 1M-member book: ceil(14.1) = 15
    assert default_shards(140_900_000) == 71  # ceil(70.45) = 71
    assert default_shards(10, shard_lines=3) == 4  # ceil(3.3) = 4


def test_pack_cuts_where_the_running_total_reaches_each_share() -> None:
    # 10 partitions of 10 lines, 3 shards: cuts once 100/3 (at 40) and 200/3 (at 70) are reached.
    assert pack([10] * 10, 3) == [(0, 4), (4, 7), (7, 10)]
    # More shards than partitions: one partition each.
    assert pack([5, 0, 7], 9) == [(0, 1), (1, 2), (2, 3)]
    assert pack([100, 1, 1, 1], 2) == [(0, 1), (1, 4)]


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=50), st.integers(1, 60))
def test_pack_covers_every_partition_once_in_order(lines: list[int], shards: int) -> None:
    ranges = pack(lines, shards)
    assert len(ranges) == min(shards, len(lines))
    assert ranges[0][0] == 0 and ranges[-1][1] == len(lines)
    assert all(a < b for a, b in ranges)
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))


def _file(name: str, fmt: str = "parquet") -> InputFile:
    return InputFile(display=name, path=name, format=fmt, filesystem=LocalFileSystem())  # type: ignore[arg-type]


def test_small_files_are_grouped_and_a_big_parquet_file_is_cut_into_row_group_runs() -> None:
    files = [_file("a"), _file("b"), _file("big"), _file("c"), _file("huge.csv", "csv")]
    sizes = [30, 30, 250, 30, 500]
    # big: four row groups of 100 uncompressed bytes each, scaled to 250 file bytes = 62.5
    # each; runs of at most 100 * 2 // 3 = 66 file bytes -> one group per task.
    tasks = input_tasks(
        "medical_claim", files, sizes, first=3, row_groups=lambda f: [(10, 100)] * 4, task_bytes=100
    )
    assert [(t.index, [f.display for f in t.files], t.row_groups) for t in tasks] == [
        (3, ["a", "b"], None),
        (4, ["big"], (0, 1)),
        (5, ["big"], (1, 2)),
        (6, ["big"], (2, 3)),
        (7, ["big"], (3, 4)),
        (8, ["c"], None),
        (9, ["huge.csv"], None),
    ]
    # Sizes: the files' bytes; a row-group run's share of its file (62.5 rounded to even).
    assert [t.size for t in tasks] == [60, 62, 62, 62, 62, 30, 500]
    # Submitted largest first, equal sizes in their own order.
    assert [t.index for t in largest_first(tasks)] == [9, 4, 5, 6, 7, 3, 8]


def test_a_big_table_is_cut_into_about_table_tasks_tasks() -> None:
    assert task_bytes(0) == TASK_BYTES
    assert task_bytes(100, least=64, tasks=4) == 64  # 25 a task would be below the least
    assert task_bytes(1_000, least=64, tasks=4) == 250
    assert task_bytes(1_001, least=64, tasks=4) == 251  # rounded up: never a fifth task's worth
    # Twenty files of 100 bytes: at the least size (64) a task each; at 2,000 / 4 = 500 bytes
    # a task, five files a task.
    files = [_file(f"f{i:02d}") for i in range(20)]
    assert len(input_tasks("medical_claim", files, [100] * 20, task_bytes=64)) == 20
    grouped = input_tasks("medical_claim", files, [100] * 20, task_bytes=task_bytes(2_000, least=64, tasks=4))
    assert [[f.display for f in t.files] for t in grouped] == [
        [f"f{i:02d}" for i in range(k, k + 5)] for k in range(0, 20, 5)
    ]


def test_row_group_runs_cover_every_group_once_in_order() -> None:
    # scale 111 / 111 = 1: 10 + 50 = 60 fits 60; + 5 would not -> (0, 2); 5 + 5 + 40 + 1 = 51.
    runs = _row_group_runs([10, 50, 5, 5, 40, 1], task_bytes=60, file_bytes=111)
    assert runs == [(0, 2), (2, 6)]
    # scale 222 / 111 = 2 -> 20, 100, 10, 10, 80, 2: 20 + 100 > 100 -> (0, 1); 100 + 10 -> (1, 2);
    # 10 + 10 + 80 = 100 fits, + 2 does not -> (2, 5); 2 -> (5, 6).
    runs = _row_group_runs([10, 50, 5, 5, 40, 1], task_bytes=100, file_bytes=222)
    assert runs == [(0, 1), (1, 2), (2, 5), (5, 6)]


@settings(max_examples=100, deadline=None)
@given(
    chunks=st.lists(
        st.lists(
            st.one_of(st.none(), st.sampled_from(["M1", " M1", "M2\t", "", "é", "M10"]), st.text(max_size=4))
        ),
        min_size=1,
        max_size=3,
    )
)
def test_partitions_of_canonical_ids_taken_as_they_are_match_the_full_parse(
    chunks: list[list[str | None]],
) -> None:
    """Member ids already canonical skip the parse; either way every row lands in the partition
    of its canonical id (the full parse's), on any chunking."""
    raw = pa.table({"member_id": pa.chunked_array([pa.array(c, pa.string()) for c in chunks], pa.string())})
    fast = partitions_of(raw, "medical_claim", 7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(partitioning, "canonical_identifier_columns", lambda *_: set())
        full = partitions_of(raw, "medical_claim", 7)
    assert fast.tolist() == full.tolist()


def test_partition_of_ids_already_canonical() -> None:
    raw = pa.table({"member_id": pa.chunked_array([["M1", None], ["M0000000002"]], pa.string())})
    assert partitions_of(raw, "medical_claim", 8).tolist() == [
        _reference("M1") % 8,
        0,
        _reference("M0000000002") % 8,
    ]
