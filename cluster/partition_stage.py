"""The partition stage: each input task's raw rows split by member partition into piece files.

A task reads its files (or row groups) in order, splits every batch of about
:data:`SPLIT_ROWS` rows by partition (:func:`settle.cluster.partitioning.partitions_of`), holds
the split rows until about :data:`PIECE_BUFFER_BYTES` have been split and writes them as one
piece file, a record batch per partition (:func:`settle.cluster.spill.write_partitioned`), each
column as narrow as the task's rows allow (:mod:`settle.cluster.spill_widths`), the code
columns as dictionaries over the task's own (:mod:`settle.cluster.task_codes`).  Validation
(:mod:`settle.cluster.stages`) reads partition *p*'s batch of every piece; a job of one shard
never writes pieces and splits its files in memory with :func:`split_files`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from settle.cluster.code_seeds import SEEDED_KEY, declaration, seeds_for
from settle.cluster.partitioning import partitions_of
from settle.cluster.plan import InputTask
from settle.cluster.spill import SUFFIX, write_partitioned
from settle.cluster.spill_decimals import narrow_decimals
from settle.cluster.spill_integers import narrow_integers
from settle.cluster.spill_widths import SpillWidths, fitted, narrow
from settle.cluster.task_codes import TaskCodes
from settle.engine.pipeline.shard import UNREAD_COLUMNS
from settle.engine.readers import InputFile, iter_file
from settle.engine.schemas import PROVENANCE_FIELDS
from settle.engine.validate import coalesce_batches
from settle.engine.validate_parse import CANONICAL_KEY
from settle.engine.validate_precheck import drop_prechecked, prechecked

if TYPE_CHECKING:
    from settle.cluster.stages import ShardContext

__all__ = ["PIECE_BUFFER_BYTES", "SPLIT_ROWS", "partition_stage", "split_files"]

SPLIT_ROWS = 131_072  # raw rows split by partition at a time (small files joined, big batches cut)
# Bytes of split rows a partition task holds before writing them as one piece file, a record
# batch per partition (see partition_stage): at 141 partitions about 20,000 claim lines a batch.
PIECE_BUFFER_BYTES = 512 << 20


def _split(batch: pa.Table, parts: np.ndarray) -> Iterator[tuple[int, pa.Table, int]]:
    """Rows of ``batch`` per partition, each in the batch's row order, with their bytes
    (estimated from the batch's bytes a row, see :func:`_own_bytes`): one stable sort of the
    rows by partition, one ``take``, then a zero-copy slice per partition.  (On a 256k-row
    batch of claim lines in 16 partitions, one thread: 50 ms, against 100 ms for a round trip
    through Polars' ``partition_by``, whose conversions of every text column to Polars' string
    views and back were most of its time.)

    ``_source_file`` goes through the take as its int32 indices and comes back with the
    batch's own dictionary (every chunk of it shares one, see :func:`split_files`), so every
    piece a task writes has the same dictionary, as one Arrow IPC file requires."""
    at = batch.schema.get_field_index("_source_file")
    files = batch.column(at)
    dictionary = files.chunk(0).dictionary
    indices = pa.chunked_array([c.indices for c in files.chunks], pa.int32())
    # numpy sorts 16-bit keys stably by radix (1M rows: 4 ms, against 36 ms for int64 keys).
    keys = parts.astype(np.uint16) if len(parts) and int(parts.max()) < (1 << 16) else parts
    order = pa.array(np.argsort(keys, kind="stable"))
    # The order is a permutation of the rows: no index needs its bounds checked.
    taken = pc.take(batch.set_column(at, "_source_file", indices), order, boundscheck=False).combine_chunks()
    source = pa.DictionaryArray.from_arrays(taken.column(at).chunk(0), dictionary, safe=False)
    taken = taken.set_column(at, PROVENANCE_FIELDS[0], source)
    counts = np.bincount(parts, minlength=1)
    row_bytes = _own_bytes(taken) / max(taken.num_rows, 1)
    start = 0
    for p in np.flatnonzero(counts):
        rows = int(counts[p])
        yield int(p), taken.slice(start, rows), int(rows * row_bytes)
        start += rows


def partition_stage(ctx: ShardContext, task: InputTask) -> tuple[dict[int, int], int]:
    """Split the raw rows of a task's files by partition into piece files.

    Returns rows per partition and rows read.  The split rows are held until about
    :data:`PIECE_BUFFER_BYTES` have been split, then written as one piece file: one record
    batch per partition that has rows, in partition order (``spill.write_partitioned``),
    named ``<task>-<seq>`` so that the pieces of a partition sort in the order their rows
    were read.  A partition's rows keep file and row order.  A change of raw
    schema between files writes what is held first (a file has one schema).

    The code columns of Parquet inputs stay dictionary-encoded in the pieces
    (``iter_file(keep_codes=True)``; validation reads them as text), with one dictionary per
    column for the whole task (:class:`~settle.cluster.task_codes.TaskCodes`; an NPI or TIN
    column's starts with the roster's values, :mod:`~settle.cluster.code_seeds`), attached when
    a piece is written (the task's dictionaries grow as rows are read; an IPC file holds one
    dictionary per column)."""
    codes, widths = TaskCodes(seeds_for(task.table, ctx.code_seeds)), SpillWidths()
    counted = [0]
    pieces = _HeldPieces(
        Path(ctx.work), task.table, task.index, codes, widths, ctx.spill_compression, ctx.spill_direct
    )
    split = split_files(ctx, task.table, task.files, task.row_groups, counted, codes, widths)
    for p, part, nbytes, wide in split:
        pieces.add(p, part, nbytes, wide)
    pieces.flush()
    return dict(pieces.rows), counted[0]


class _HeldPieces:
    """A partition task's split rows, held per partition and written a piece file at a time."""

    def __init__(
        self,
        work: Path,
        table: str,
        task: int,
        codes: TaskCodes,
        widths: SpillWidths,
        compression: str | None,
        direct: bool,
    ) -> None:
        self.root, self.table = work / "pieces" / table, table
        self.task, self.compression, self.direct = task, compression, direct
        self.codes, self.widths = codes, widths
        self.rows: Counter[int] = Counter()
        self._held: dict[int, list[pa.Table]] = {}
        # Of the held rows before SpillWidths.carried narrowed them (code columns as indices).
        self._schema: pa.Schema | None = None
        self._bytes = 0
        self._seq = 0

    def add(self, p: int, part: pa.Table, nbytes: int, wide: pa.Schema) -> None:
        """Hold ``part`` (rows of schema ``wide`` carried narrow) for partition ``p``."""
        if self._schema is not None and not self._schema.equals(wide, check_metadata=True):
            self.flush()
        self._schema = wide
        self._held.setdefault(p, []).append(part)
        self.rows[p] += part.num_rows
        self._bytes += nbytes
        if self._bytes >= PIECE_BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write the held rows as one piece file (one record batch per partition)."""
        if not self._held or self._schema is None:
            return
        listed = sorted(self._held)
        held, self._held, self._bytes = self._held, {}, 0
        # Each column as narrow as the task's rows allow (settle.cluster.spill_widths).
        code_lengths = self.codes.lengths()
        files = len(held[listed[0]][0].column("_source_file").chunk(0).dictionary)
        schema = self.widths.schema(self.codes.schema(self._schema), {**code_lengths, "_source_file": files})
        # Rows carried when the task's widths were narrower are converted to today's.
        carried = self.widths.carried_schema(self._schema, code_lengths)
        wide = self._schema
        # The code columns validation need not check value by value (TaskCodes.canonical).
        declared = ",".join(self.codes.canonical(self.table)).encode()
        metadata = {**(schema.metadata or {}), CANONICAL_KEY: declared}
        if seeded := self.codes.seeded():  # the code columns whose dictionary starts with a seed
            metadata[SEEDED_KEY] = declaration(seeded)
        schema = schema.with_metadata(metadata)

        def parts() -> Iterator[tuple[int, pa.Table]]:
            for p in listed:
                slices = held.pop(p)  # each partition's slices are dropped once written
                slices = [s if s.schema.equals(carried, True) else fitted(s, carried, wide) for s in slices]
                joined = (slices[0] if len(slices) == 1 else pa.concat_tables(slices)).combine_chunks()
                yield p, narrow(self.codes.restore(joined), schema)

        path = self.root / f"{self.task:06d}-{self._seq:04d}{SUFFIX}"
        write_partitioned(path, schema, parts(), listed, self.compression, self.direct)
        self._seq += 1


def _own_bytes(batch: pa.Table) -> int:
    """Bytes of a batch's own rows: a dictionary column (``_source_file``) reports its whole
    dictionary as its size, which every slice of the task shares.  Computed once per split
    batch, not per slice: at 256 partitions a task of 2.4 M claim lines splits about 4,600
    slices, and walking each slice's columns through pyarrow's wrappers took 0.48 s of the
    task's 2.4 s."""
    total = 0
    for column in batch.columns:
        for chunk in column.chunks:
            total += chunk.indices.nbytes if isinstance(chunk, pa.DictionaryArray) else chunk.nbytes
    return total


def split_files(
    ctx: ShardContext,
    table: str,
    files: Sequence[InputFile],
    row_groups: tuple[int, int] | None,
    counted: list[int],
    codes: TaskCodes | None = None,
    widths: SpillWidths | None = None,
) -> Iterator[tuple[int, pa.Table, int, pa.Schema]]:
    """(partition, rows, their bytes, their schema before narrowing) of the raw rows of
    ``files``, in file and row order; rows read are added to ``counted[0]``.  Small files are
    joined to about :data:`SPLIT_ROWS` rows first: splitting has a fixed cost per batch (about
    9 ms for each small file split alone).

    With ``codes``, Parquet code columns are read as dictionaries and come out as ``int32``
    indices into the task's dictionaries (:meth:`TaskCodes.encode`), decimal columns as
    their unscaled ``int64`` values (:func:`~settle.cluster.spill_decimals.narrow_decimals`),
    and ``int64`` columns whose values fit as ``int32``
    (:func:`~settle.cluster.spill_integers.narrow_integers`).  With ``widths``, every column is
    then as narrow as the task's rows so far allow before it is split, the code columns as
    narrow plain indices (:meth:`~settle.cluster.spill_widths.SpillWidths.carried`)."""

    # One dictionary for the task's files, shared by every batch (see _split).
    names = pa.array([f.display for f in files], pa.string())

    def raw() -> Iterator[pa.Table]:
        for i, f in enumerate(files):
            for batch in iter_file(
                f,
                table,
                column_map=ctx.column_maps.get(table),
                stratifiers=ctx.stratifiers,
                row_groups=row_groups,
                keep_codes=codes is not None,
            ):
                counted[0] += batch.num_rows
                if batch.num_rows:
                    at = batch.schema.get_field_index("_source_file")
                    index = pa.array(np.full(batch.num_rows, i, dtype=np.int32))
                    source = pa.DictionaryArray.from_arrays(index, names, safe=False)
                    yield batch.set_column(at, PROVENANCE_FIELDS[0], source)

    unread = UNREAD_COLUMNS.get(table, frozenset())
    for batch in coalesce_batches(raw(), SPLIT_ROWS):
        if codes is not None:
            # Columns validation checks but does not keep, which no row of this batch can
            # fail on, are not carried to it (settle.engine.validate_precheck).
            batch = drop_prechecked(batch, table, prechecked(batch, table, unread))
            batch = narrow_integers(narrow_decimals(codes.encode(batch)))
        parts = partitions_of(batch, table, ctx.partitions)
        wide = batch.schema
        if widths is not None:
            widths.observe(batch)
            batch = widths.carried(batch, codes.lengths() if codes is not None else {})
        # Split at most SPLIT_ROWS rows at a time: the take that groups rows by partition
        # reads each column in as many interleaved runs as there are partitions, which stays
        # in the CPU's cache only for a slice of the batch.
        for start in range(0, batch.num_rows, SPLIT_ROWS):
            stop = min(start + SPLIT_ROWS, batch.num_rows)
            for p, rows, nbytes in _split(batch.slice(start, stop - start), parts[start:stop]):
                yield p, rows, nbytes, wide
