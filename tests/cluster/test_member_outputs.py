"""The member-level outputs written partition by partition as shards finish: the files are
those of writing every part at the end, whatever order the partitions become ready in and
however a later part widens the schema; the writer waits for a free core and gives up when
the job stops."""

import random
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from settle.cluster.member_outputs import ReadyPartitions, merged_schema, write_member_level
from settle.cluster.outputs import OutputWriter
from settle.cluster.spill import write_spill
from settle.cluster.stages import part_path
from settle.engine.errors import SettleSystemError
from settle.engine.rejects import REJECTS_SCHEMA

PARTITIONS = 4


def _reject(file: str, row: int, reason: str) -> dict[str, object]:
    return {
        "table": "medical_claim",
        "source_file": file,
        "row_number": row,
        "column": "member_id",
        "reason": reason,
        "detail": "a detail",
        "value": None,
    }


def _rejects(*rows: dict[str, object]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=REJECTS_SCHEMA)


def _work(tmp_path: Path) -> Path:
    """Parts of four partitions: attribution in 0, 2 and 3 (0's entity_id all null and typed
    null, 3 with a column of its own), no member costs at all, rejects in 1 and 3."""
    work = tmp_path / "work"
    s = pa.string()
    write_spill(
        pa.table({"contract_id": pa.array(["c"], s), "member_id": ["m0"], "entity_id": pa.nulls(1)}),
        part_path(work, "attribution", 0),
        None,
    )
    write_spill(
        pa.table({"contract_id": ["c", "c"], "member_id": ["m2", "m3"], "entity_id": ["E1", None]}),
        part_path(work, "attribution", 2),
        None,
    )
    write_spill(
        pa.table(
            {
                "contract_id": ["c"],
                "member_id": ["m7"],
                "entity_id": ["E2"],
                "months": pa.array([12], pa.int64()),
            }
        ),
        part_path(work, "attribution", 3),
        None,
    )
    write_spill(_rejects(_reject("b.parquet", 9, "missing_member")), part_path(work, "rejects-k", 1), None)
    write_spill(_rejects(_reject("a.parquet", 4, "malformed")), part_path(work, "rejects-v", 1), None)
    write_spill(_rejects(_reject("a.parquet", 2, "malformed")), part_path(work, "rejects-v", 3), None)
    (work / "pieces" / "medical_claim").mkdir(parents=True)
    return work


SHARED = _rejects(_reject("roster.parquet", 1, "malformed"))


def _write(work: Path, dest: Path, order: list[int] | None) -> Path:
    """The outputs with the partitions marked ready in ``order`` (one shard each, two
    slots) by another thread, or all ready before the writer starts (``None``)."""
    writer = OutputWriter(str(dest))
    ready = ReadyPartitions(PARTITIONS)
    if order is None:
        ready.mark_all()
    else:
        ready.hold(PARTITIONS, 2)

        def run_shards() -> None:
            for p in order:
                time.sleep(0.01)
                ready.mark([p])
                ready.shard_finished()

        threading.Thread(target=run_shards).start()
    write_member_level(writer, work, ready, SHARED)
    writer.commit({"job": "test"})
    return dest


def test_the_files_hold_every_part_in_partition_order_under_the_schema_of_all_parts(tmp_path: Path) -> None:
    dest = _write(_work(tmp_path), tmp_path / "out", [3, 1, 0, 2])
    attribution = pq.read_table(dest / "attribution.parquet")
    expected = pa.schema(
        [
            ("contract_id", pa.string()),
            ("member_id", pa.string()),
            ("entity_id", pa.string()),
            ("months", pa.int64()),
        ]
    )
    assert attribution.schema.equals(expected)
    assert attribution.to_pylist() == [
        {"contract_id": "c", "member_id": "m0", "entity_id": None, "months": None},
        {"contract_id": "c", "member_id": "m2", "entity_id": "E1", "months": None},
        {"contract_id": "c", "member_id": "m3", "entity_id": None, "months": None},
        {"contract_id": "c", "member_id": "m7", "entity_id": "E2", "months": 12},
    ]
    costs = pq.read_table(dest / "member_costs.parquet")
    assert costs.num_rows == 0 and costs.column_names == ["contract_id"]
    rejects = pq.read_table(dest / "rejects.parquet")
    # The broadcast tables' first, then partition 1's sorted (file, row), then partition 3's.
    assert [(r["source_file"], r["row_number"]) for r in rejects.to_pylist()] == [
        ("roster.parquet", 1),
        ("a.parquet", 4),
        ("b.parquet", 9),
        ("a.parquet", 2),
    ]
    assert not (tmp_path / "work" / "pieces").exists()  # spent once every partition was ready


def test_any_order_of_readiness_writes_the_bytes_of_all_parts_at_once(tmp_path: Path) -> None:
    work = _work(tmp_path)
    at_once = _write(work, tmp_path / "at-once", None)
    for i, order in enumerate(
        [[0, 1, 2, 3], [3, 2, 1, 0], random.Random(7).sample(range(PARTITIONS), PARTITIONS)]
    ):
        streamed = _write(work, tmp_path / f"streamed-{i}", order)
        for name in ("attribution.parquet", "member_costs.parquet", "rejects.parquet", "manifest.json"):
            assert (streamed / name).read_bytes() == (at_once / name).read_bytes(), (order, name)


def test_merged_schema_by_hand() -> None:
    a = pa.schema([("x", pa.null()), ("y", pa.int32())])
    b = pa.schema([("z", pa.string()), ("x", pa.int64()), ("y", pa.int32())])
    c = pa.schema([("w", pa.bool_())])
    merged = merged_schema([a, b, c])
    assert merged is not None
    assert merged.equals(
        pa.schema([("z", pa.string()), ("x", pa.int64()), ("y", pa.int32()), ("w", pa.bool_())])
    )
    assert merged_schema([]) is None


def _waiter(ready: ReadyPartitions, p: int) -> tuple[threading.Thread, threading.Event, list[BaseException]]:
    done, errors = threading.Event(), []

    def wait() -> None:
        try:
            ready.wait(p)
            done.set()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=wait)
    thread.start()
    return thread, done, errors


def test_the_writer_waits_until_fewer_shards_than_slots_are_left() -> None:
    ready = ReadyPartitions(3)
    ready.hold(3, 2)
    thread, done, _ = _waiter(ready, 0)
    ready.mark([0])
    ready.shard_finished()  # two shards left on two slots: every core still busy
    assert not done.wait(0.2)
    ready.shard_finished()  # one left: a core is free
    assert done.wait(5)
    thread.join()


def test_a_stopped_job_wakes_the_writer_with_an_error() -> None:
    ready = ReadyPartitions(2)
    thread, done, errors = _waiter(ready, 1)
    ready.mark([0])
    ready.stop()
    thread.join(5)
    assert not done.is_set()
    assert len(errors) == 1 and isinstance(errors[0], SettleSystemError)


def test_a_failed_writer_leaves_no_member_level_file(tmp_path: Path) -> None:
    work = _work(tmp_path)
    writer = OutputWriter(str(tmp_path / "out"))
    ready = ReadyPartitions(PARTITIONS)
    ready.mark([0, 1])
    stopper = threading.Timer(0.1, ready.stop)
    stopper.start()
    with pytest.raises(SettleSystemError):
        write_member_level(writer, work, ready, SHARED)
    assert writer.files == []
    staged = [p.name for p in tmp_path.glob(".out.staging-*/*")]
    assert staged == []
