"""The member-level outputs (``attribution``, ``member_costs``, ``rejects``), written by the
driver from the work folder's part files while the shards are still being validated and mapped.

Each output file is the concatenation of its partitions' part files in partition order (each
part sorted by its task), cast to one schema: the widest part's columns first, then any
others in order of appearance, a column missing from a part null, a column null-typed in one
part taking its type from another (:func:`merged_schema`).  ``rejects`` merges each
partition's validation and kernel rejects (sorted); the broadcast tables' rejects (roster,
quality, premiums) lead.

**Written as the partitions become ready.**  The job marks a shard's partitions ready
(:class:`ReadyPartitions`) as soon as the task that writes their parts has finished (the map
task, or the one-round validate + map task); a thread of the driver
(:func:`write_member_level`) waits for partition 0, then 1, ..., and appends each ready
partition's parts to the three files at once, once fewer shards are left than the cluster
has CPUs (:class:`ReadyPartitions`).  So the writing fills the cores the last shards leave
idle instead of competing, after the last shard, with the settlement for them (1M members on
2 cores: about 1.2 CPU-s of Parquet writing); what is left shares the settle stage with the
settlement, at the driver's own priority (at the lowest, ``nice`` 19, it waited for the
settle tasks and was left for the end, alone on one core: 2.7-2.9 s of a 5M-member job).

The schema must be known before the first row is written, but only the last part is sure to
settle it: a file is begun with the schema of the parts seen so far and, should a later part
widen it, begun again with the wider one and every part rewritten.  Either way the file holds
every part, in partition order, cast to the schema of all the parts: the bytes are those of
writing them all at the end.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

from settle.cluster.outputs import OutputWriter, ParquetSink
from settle.cluster.spill import read_spill, read_spill_schema
from settle.cluster.stages import part_path, sorted_rejects
from settle.engine.errors import SettleSystemError
from settle.engine.rejects import REJECTS_SCHEMA, empty_rejects

__all__ = ["ReadyPartitions", "merged_schema", "write_member_level"]

_PARTS = ("attribution", "member_costs")
_REJECT_PARTS = ("rejects-v", "rejects-k")


class ReadyPartitions:
    """Which partitions' part files are final, shared between the thread that runs the
    shards (:meth:`mark`) and the one that writes the outputs (:meth:`wait`).  :meth:`stop`
    (the job failed) wakes the writer with an error instead.

    :meth:`wait` also holds the writer back while the shards still fill every worker: after
    :meth:`hold` of ``shards`` on ``slots`` (the cluster's CPUs, each running a shard at a time), it waits
    until fewer than ``slots`` shards are left unfinished (:meth:`shard_finished`), when a
    core has nothing else to do, and then catches up with every ready partition.  Writing
    each partition as soon as it was ready took the CPU from the workers: the validate stage
    of a 1M-member job on 2 cores grew by as much as the settle stage shrank."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._ready = [False] * partitions
        self._stopped = False
        self._unfinished = 0
        self._slots = 0
        self._changed = threading.Condition()

    def hold(self, shards: int, slots: int) -> None:
        """Hold the writer while at least ``slots`` of the ``shards`` to run are unfinished."""
        with self._changed:
            self._unfinished, self._slots = shards, slots
            self._changed.notify_all()

    def mark(self, partitions: Iterable[int]) -> None:
        with self._changed:
            for p in partitions:
                self._ready[p] = True
            self._changed.notify_all()

    def shard_finished(self) -> None:
        with self._changed:
            self._unfinished -= 1
            self._changed.notify_all()

    def mark_all(self) -> None:
        with self._changed:
            self._ready = [True] * self.partitions
            self._unfinished = 0
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def wait(self, p: int) -> None:
        """Return once partition ``p`` is ready and fewer shards than slots are unfinished;
        raise if the job stopped first."""
        with self._changed:
            while not self._ready[p] or self._unfinished >= self._slots > 0:
                if self._stopped:
                    raise SettleSystemError("the job stopped before its member-level outputs were written")
                self._changed.wait()


def merged_schema(schemas: Sequence[pa.Schema]) -> pa.Schema | None:
    """One schema for parts of these schemas (in part order; ``None`` for none): the first of
    the widest parts' fields, then fields only other parts have, in order of appearance; a
    field null-typed where it first appears takes the first real type another part gives it;
    every field nullable."""
    if not schemas:
        return None
    widest = max(schemas, key=lambda s: len(s.names))  # the first of the widest, in part order
    fields: dict[str, pa.Field] = {f.name: f for f in widest}
    for schema in schemas:
        for f in schema:
            if f.name not in fields or pa.types.is_null(fields[f.name].type):
                fields[f.name] = f
    names = list(widest.names) + [n for n in fields if n not in widest.names]
    return pa.schema([fields[n].with_nullable(True) for n in names])


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.table(columns, schema=schema)


class _OutputFile:
    """One output file being written: its sink, finished or discarded once."""

    def __init__(self, writer: OutputWriter) -> None:
        self.writer = writer
        self.sink: ParquetSink | None = None

    def _finish(self) -> None:
        assert self.sink is not None
        sink, self.sink = self.sink, None
        self.writer.finish_parquet(sink)

    def discard(self) -> None:
        if self.sink is not None:
            sink, self.sink = self.sink, None
            self.writer.discard_parquet(sink)


class _PartsFile(_OutputFile):
    """``attribution.parquet`` or ``member_costs.parquet``, a partition's part at a time."""

    def __init__(self, writer: OutputWriter, work: Path, name: str) -> None:
        super().__init__(writer)
        self.work, self.name = work, name
        self.paths: list[Path] = []
        self.schemas: list[pa.Schema] = []

    def add(self, p: int) -> None:
        path = part_path(self.work, self.name, p)
        if not path.exists():  # the partition has no rows for this output
            return
        self.paths.append(path)
        self.schemas.append(read_spill_schema(path))
        schema = merged_schema(self.schemas)
        assert schema is not None
        if self.sink is not None and self.sink.schema.equals(schema, check_metadata=True):
            self.sink.write(_conform(read_spill(path), schema))
            return
        self.discard()  # begun with a narrower schema (or not begun): begin again
        self.sink = self.writer.open_parquet(self.name, schema)
        for seen in self.paths:
            self.sink.write(_conform(read_spill(seen), schema))

    def finish(self) -> None:
        if self.sink is None:  # no partition has rows: an empty file of one column
            empty = pa.table({"contract_id": pa.array([], pa.string())})
            self.sink = self.writer.open_parquet(self.name, empty.schema)
            self.sink.write(empty)
        self._finish()


class _RejectsFile(_OutputFile):
    """``rejects.parquet``: the broadcast tables' rejects, then each partition's, sorted."""

    def __init__(self, writer: OutputWriter, work: Path, shared: pa.Table) -> None:
        super().__init__(writer)
        self.work = work
        self.sink = writer.open_parquet("rejects", REJECTS_SCHEMA)
        self.produced = False
        if shared.num_rows:
            self._write([shared])

    def _write(self, tables: Iterable[pa.Table]) -> None:
        assert self.sink is not None
        self.sink.write(sorted_rejects(tables))
        self.produced = True

    def add(self, p: int) -> None:
        paths = [part_path(self.work, name, p) for name in _REJECT_PARTS]
        found = [read_spill(path) for path in paths if path.exists()]
        if found:
            self._write(found)

    def finish(self) -> None:
        assert self.sink is not None
        if not self.produced:
            self.sink.write(empty_rejects())
        self._finish()


def write_member_level(
    writer: OutputWriter, work: Path, ready: ReadyPartitions, shared_rejects: pa.Table
) -> None:
    """Write the three member-level outputs of the job whose work folder is ``work``, each
    partition as soon as ``ready`` says its parts are final (see the module docstring).

    Once every partition is ready no task reads the raw pieces or the validated rows any
    more (most of the work folder: about 70 bytes a claim line): they are removed before the
    files are finished, while the driver settles, rather than after publishing."""
    outputs: list[_PartsFile | _RejectsFile] = []
    try:
        outputs = [_PartsFile(writer, work, name) for name in _PARTS]
        outputs.append(_RejectsFile(writer, work, shared_rejects))
        for p in range(ready.partitions):
            ready.wait(p)
            for output in outputs:
                output.add(p)
        for spent in ("pieces", "validated"):
            shutil.rmtree(work / spent, ignore_errors=True)
        for output in outputs:
            output.finish()
    except BaseException:
        for output in outputs:
            output.discard()
        raise
