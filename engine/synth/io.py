"""Writing the synthetic book with bounded memory: streamed files, spill files, a sorted feed.

* :class:`StreamWriter`: rows, in the order handed in, into Parquet files with row groups of
  exactly :data:`ROW_GROUP_ROWS` rows (the last one shorter) and at most ``file_rows`` rows per
  file.  Every written table is one contiguous chunk, so the bytes depend only on the rows, not
  on how they were handed in (hence not on the chunk size).
* :class:`UnitStreams`: rows arriving in non-decreasing *unit* order (an employer group, or a
  part of a large one), one streamed file per unit, one file open at a time.
* :class:`Spill`: rows that must be regrouped (paid-date order for the feed layout; rows of
  members who moved to another employer) are spilled chunk by chunk, sorted by a bucket number,
  one row group per bucket; :func:`write_units` and :func:`write_sorted` read them back one
  bucket at a time, in chunk order, and write the final files.

Memory is bounded by one chunk plus one bucket (a few million rows).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from settle.engine.synth.arrow import F64, I64

__all__ = [
    "ROW_GROUP_ROWS",
    "UNIT_COLUMN",
    "Spill",
    "StreamWriter",
    "UnitPlan",
    "UnitStreams",
    "numbered_parts",
    "plan_units",
    "write_sorted",
    "write_units",
]

ROW_GROUP_ROWS = 262_144
COMPRESSION = "zstd"
UNIT_COLUMN = "_unit"
ONE_FILE = 2**62


def numbered_parts(folder: Path) -> Callable[[int], Path]:
    """``folder/part-00000.parquet``, ``part-00001.parquet``, ..."""
    return lambda i: folder / f"part-{i:05d}.parquet"


@dataclass(frozen=True)
class UnitPlan:
    """Output units (one file each) per employer group, and the spill bucket of each unit.

    A group's members are a contiguous range of member numbers; a group with more expected rows
    than a file should hold is split into ``parts`` by member number, so units grow with it.
    """

    parts: I64  # per group
    base: I64  # per group: its first unit
    first: I64  # per group: its first member number (group_first of the world)
    group_of_unit: I64
    part_of_unit: I64
    bucket_of_unit: I64

    @property
    def n_buckets(self) -> int:
        return int(self.bucket_of_unit.max()) + 1 if len(self.bucket_of_unit) else 1

    def units(self, group: I64, gidx: I64) -> I64:
        """The unit of rows of ``group`` for members with global index ``gidx`` (in the group's range)."""
        size = np.maximum(self.first[group + 1] - self.first[group], 1)
        part = np.clip((gidx - self.first[group]) * self.parts[group] // size, 0, self.parts[group] - 1)
        units: I64 = self.base[group] + part
        return units


def plan_units(expected_rows: F64, group_first: I64, *, file_rows: int, bucket_rows: int) -> UnitPlan:
    """Split groups whose expected rows exceed ``file_rows``; pack units into spill buckets."""
    parts = np.maximum(1, np.ceil(expected_rows / file_rows)).astype(np.int64)
    base = np.r_[0, np.cumsum(parts)[:-1]].astype(np.int64)
    group_of_unit = np.repeat(np.arange(len(parts)), parts)
    part_of_unit = np.arange(len(group_of_unit)) - np.repeat(base, parts)
    per_unit = (expected_rows / parts)[group_of_unit]
    before = np.r_[0.0, np.cumsum(per_unit)[:-1]]
    _, bucket = np.unique(np.floor(before / bucket_rows).astype(np.int64), return_inverse=True)
    return UnitPlan(
        parts=parts,
        base=base,
        first=group_first,
        group_of_unit=group_of_unit,
        part_of_unit=part_of_unit,
        bucket_of_unit=bucket.astype(np.int64),
    )


class StreamWriter:
    """Rows, in the order written, into files ``path_of(0)``, ``path_of(1)``, ... of at most
    ``file_rows`` rows, in row groups of exactly ``min(ROW_GROUP_ROWS, file_rows)`` rows (the last
    one shorter)."""

    def __init__(
        self, path_of: Callable[[int], Path], schema: pa.Schema, *, file_rows: int = ONE_FILE
    ) -> None:
        self._path_of = path_of
        self._schema = schema
        self._group_rows = max(1, min(ROW_GROUP_ROWS, file_rows))
        self._file_rows = max(1, math.ceil(file_rows / self._group_rows)) * self._group_rows
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
        self._in_file = 0
        self.paths: list[Path] = []
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._buffer.append(table)
        self._buffered += table.num_rows
        while self._buffered >= self._group_rows:
            self._emit(self._group_rows)

    def _emit(self, n: int) -> None:
        combined = pa.concat_tables(self._buffer)
        if self._writer is None or self._in_file + n > self._file_rows:
            self._open()
        assert self._writer is not None
        self._writer.write_table(combined.slice(0, n).combine_chunks(), row_group_size=n)
        self._in_file += n
        self.rows += n
        rest = combined.slice(n)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows

    def _open(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self._path_of(len(self.paths))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.paths.append(path)
        self._writer = pq.ParquetWriter(path, self._schema, compression=COMPRESSION)
        self._in_file = 0

    def close(self) -> list[Path]:
        if self._buffered:
            self._emit(self._buffered)
        if self._writer is None:
            self._open()  # an empty table still gets one (empty) file
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        return self.paths


def _fixed(path: Path) -> Callable[[int], Path]:
    """A single-file naming: every file number maps to ``path`` (used with one file only)."""
    return lambda _i: path


class UnitStreams:
    """One streamed file per unit, for rows that arrive in non-decreasing unit order."""

    def __init__(self, schema: pa.Schema, path_of_unit: Callable[[int], Path]) -> None:
        self._schema = schema
        self._path_of_unit = path_of_unit
        self._unit = -1
        self._writer: StreamWriter | None = None
        self.paths: list[Path] = []
        self.rows = 0

    def write(self, table: pa.Table, unit: I64) -> None:
        if table.num_rows == 0:
            return
        if (np.diff(unit) < 0).any():  # only a block with injected bad rows is out of order
            order = np.argsort(unit, kind="stable")
            table, unit = table.take(pa.array(order)), unit[order]
        if unit[0] < self._unit:
            raise ValueError(f"unit {int(unit[0])} arrived after unit {self._unit}")
        edges = np.r_[0, np.flatnonzero(np.diff(unit)) + 1, len(unit)]
        for a, b in itertools.pairwise(edges):
            u = int(unit[a])
            if u != self._unit:
                self._close_current()
                path = self._path_of_unit(u)
                self._writer = StreamWriter(_fixed(path), self._schema)
                self._unit = u
            assert self._writer is not None
            self._writer.write(table.slice(a, b - a))
        self.rows += table.num_rows

    def _close_current(self) -> None:
        if self._writer is not None:
            self.paths += self._writer.close()
            self._writer = None

    def close(self) -> list[Path]:
        self._close_current()
        if not self.paths:  # no row at all: one empty file keeps the table readable
            self.paths += StreamWriter(_fixed(self._path_of_unit(0)), self._schema).close()
        return self.paths


class Spill:
    """Chunks of one table, each sorted by bucket into a Parquet file with a row group per bucket."""

    def __init__(self, folder: Path, name: str) -> None:
        self._folder = folder
        self._name = name
        self._files: list[tuple[Path, dict[int, int]]] = []
        self.rows = 0

    def add(self, pieces: list[tuple[pa.Table, I64]]) -> None:
        """Spill one chunk, given as pieces (tables with each row's bucket), in order.

        A piece already sorted by bucket is sliced, not copied; within a bucket, rows keep
        the order of the pieces and of their rows.
        """
        ready = []
        for table, bucket in pieces:
            if table.num_rows == 0:
                continue
            if (np.diff(bucket) < 0).any():
                order = np.argsort(bucket, kind="stable")
                table, bucket = table.take(pa.array(order)), bucket[order]
            ready.append((table, bucket))
        if not ready:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{self._name}-{len(self._files):05d}.parquet"
        groups: dict[int, int] = {}
        with pq.ParquetWriter(path, ready[0][0].schema, compression=COMPRESSION) as writer:
            for b in np.unique(np.concatenate([bucket for _, bucket in ready])):
                parts = []
                for table, bucket in ready:
                    lo, hi = np.searchsorted(bucket, [b, b + 1])
                    if hi > lo:
                        parts.append(table.slice(int(lo), int(hi - lo)))
                rows = pa.concat_tables(parts)
                writer.write_table(rows, row_group_size=rows.num_rows)
                groups[int(b)] = len(groups)
                self.rows += rows.num_rows
        self._files.append((path, groups))

    def read(self, bucket: int) -> pa.Table | None:
        """The rows of ``bucket`` from every chunk, in chunk order (None when there are none)."""
        parts = [
            pq.ParquetFile(path).read_row_group(groups[bucket])
            for path, groups in self._files
            if bucket in groups
        ]
        return pa.concat_tables(parts).combine_chunks() if parts else None

    def remove(self) -> None:
        for path, _ in self._files:
            path.unlink(missing_ok=True)
        self._files = []


def write_units(
    spill: Spill, n_buckets: int, path_of_unit: Callable[[int], Path], schema: pa.Schema
) -> list[Path]:
    """Write each bucket's rows split by the ``_unit`` column, one file per unit (stable order)."""
    paths: list[Path] = []
    for b in range(n_buckets):
        table = spill.read(b)
        if table is None:
            continue
        unit = table.column(UNIT_COLUMN).to_numpy()
        order = np.argsort(unit, kind="stable")
        streams = UnitStreams(schema, path_of_unit)
        streams.write(table.drop_columns([UNIT_COLUMN]).take(pa.array(order)), unit[order])
        paths += streams.close()
    return paths


def write_sorted(
    spill: Spill, n_buckets: int, keys: list[tuple[str, str]], writer: StreamWriter
) -> list[Path]:
    """Stream every bucket, sorted by ``keys``, through ``writer``."""
    for b in range(n_buckets):
        table = spill.read(b)
        if table is not None:
            writer.write(table.sort_by(keys))
    return writer.close()
