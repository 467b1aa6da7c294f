"""The job's intermediate files: Arrow IPC files, uncompressed or with LZ4-compressed buffers.

Everything a stage hands to a later stage through the work folder (partition pieces, a shard's
validated rows, per-partition attribution, member costs and rejects) is written here, never as
Parquet: these files are written once and read once by a machine of the same job, so Parquet's
encoding and zstd compression buy nothing and cost most of a stage (measured on a 200,000-member
book: writing the validated rows as zstd Parquet took 36 % of a one-shard job).  IPC writes and
reads at memory speed; the outputs published stay Parquet (:mod:`settle.cluster.outputs`).

Compression (:func:`spill_compression`, chosen once per job by the driver, so every task of the
job writes alike; readers need not know, an IPC file says how it is compressed): LZ4 keeps the
spill folder at about 70 bytes a claim line instead of about 170, but compressing took a
fifth of the partition stage and decompressing a tenth of validation.  Uncompressed files are
read by memory-mapping them (no copy, no decompression): on the 200,000-member book, one
thread, the partition stage took 2.80-2.89 s against 3.55-3.82 s with LZ4 and validate + map
4.78-4.93 s against 5.22-5.32 s (runs alternated).  That holds even where the spill no
longer fits the page cache: a 10M-member job's pieces (about 22 GB: the 1M book's are 2.2 GB),
on a 24 GB machine whose disk writes 280 MB/s and reads 1.4 GB/s, took 224-239 s uncompressed
against 297 s with LZ4 (2026-12-07).  So a job spills uncompressed unless the spill would
crowd the work folder's disk, and with LZ4 then (:func:`spill_compression`).

Every write goes to a temporary name first and is renamed into place, so a retried task
rewrites the same file and a reader never sees half of one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from settle.cluster.choices import setting_choice
from settle.cluster.direct_io import open_spill
from settle.engine.errors import SettleSystemError

__all__ = [
    "COMPRESSIONS",
    "PARTITIONS_KEY",
    "RAW_BYTES_PER_LINE",
    "SUFFIX",
    "partitions_in",
    "read_partition",
    "read_spill",
    "read_spill_schema",
    "spill_compression",
    "write_partitioned",
    "write_spill",
]

SUFFIX = ".arrow"
COMPRESSIONS = ("auto", "none", "lz4", "zstd")  # the values of SETTLE_SPILL_COMPRESSION
# Uncompressed spill per claim line, the member tables' other rows and the kernels' part files
# included: a margin over the 57 bytes a line measured on the 1M benchmark book (2026-12-07:
# 1.39 GB of pieces and 0.23 GB of part files for 28.2 M claim lines, columns narrowed by
# settle.cluster.spill_widths), since ids of mixed lengths keep their offsets (75 and more).
RAW_BYTES_PER_LINE = 100
PARTITIONS_KEY = b"settle.partitions"  # schema metadata of a partitioned spill file


def spill_compression(claim_lines: int, work: Path, setting: str | None = None) -> str | None:
    """The compression of a job's spill files (``None``: uncompressed).

    ``setting`` (default: ``SETTLE_SPILL_COMPRESSION``, else ``auto``) is one of
    :data:`COMPRESSIONS`.  ``auto`` spills uncompressed when the estimated raw spill
    (``claim_lines`` × :data:`RAW_BYTES_PER_LINE`) is at most half the work folder's free
    space, else LZ4.  Memory is not a condition: until 2026-12-07 ``auto`` also compressed
    a spill bigger than three quarters of the available memory (to keep the pieces in the page
    cache), which chose LZ4 for a 10-million-member book on a 24 GB machine; that job took
    297 s with LZ4 and 224-239 s uncompressed, the pieces read back from disk at its speed.
    Where the work folder is a slow network volume, ``lz4`` may be the better setting.
    """
    chosen = setting_choice("SETTLE_SPILL_COMPRESSION", COMPRESSIONS, setting)
    if chosen != "auto":
        return None if chosen == "none" else chosen
    fits = claim_lines * RAW_BYTES_PER_LINE <= shutil.disk_usage(work).free // 2
    return None if fits else "lz4"


def _options(compression: str | None) -> ipc.IpcWriteOptions:
    # One IPC file holds one dictionary per dictionary column (``_source_file``): the chunks
    # of a table written at once are unified; the parts of a partitioned file share theirs.
    return ipc.IpcWriteOptions(compression=compression, unify_dictionaries=True)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")


@contextmanager
def _atomic_writer(
    path: Path, schema: pa.Schema, compression: str | None, direct: bool = True
) -> Iterator[ipc.RecordBatchFileWriter]:
    """An IPC file writer whose file appears at ``path`` only once it is whole: written under a
    temporary name (with ``O_DIRECT`` where it can be, :func:`~settle.cluster.direct_io.open_spill`)
    and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        sink = open_spill(tmp, direct)
        try:
            with ipc.new_file(sink, schema, options=_options(compression)) as writer:
                yield writer
        finally:
            sink.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_spill(table: pa.Table, path: Path, compression: str | None, direct: bool = True) -> None:
    """Write ``table`` to ``path`` atomically; around the page cache unless ``direct`` is false
    (a small file read back at once belongs in the cache)."""
    with _atomic_writer(path, table.schema, compression, direct) as writer:
        writer.write_table(table)


def read_spill(path: Path, columns: list[str] | None = None) -> pa.Table:
    """The table in ``path`` (only ``columns``, when given).  The file is memory-mapped: an
    uncompressed file's columns are views of the mapping (no copy), which stays valid after
    the file is removed."""
    with pa.memory_map(str(path)) as source:
        table = ipc.open_file(source).read_all()
    return table.select(columns) if columns is not None else table


def read_spill_schema(path: Path) -> pa.Schema:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).schema


def write_partitioned(
    path: Path,
    schema: pa.Schema,
    parts: Iterable[tuple[int, pa.Table]],
    partitions: Sequence[int],
    compression: str | None,
    direct: bool = True,
) -> None:
    """Write one record batch per partition to ``path`` atomically: ``parts`` yields
    ``(partition, rows)`` for each of ``partitions`` in that order, each ``rows`` a table of
    ``schema`` in one chunk (its dictionaries the same arrays for every part: an IPC file
    holds one dictionary per column).  The file's schema lists the partitions in batch order
    (:data:`PARTITIONS_KEY`) so that :func:`read_partition` finds one without scanning.

    One file per partition-stage task and flush, rather than one per task and partition: at
    10M members a task wrote 141 files each flush (256 before the partition count stopped being
    a power of two), and each file's open, schema, dictionaries, footer and rename cost about
    1.3 ms; and the next stage opened 17,000 small files."""
    listed = list(partitions)
    metadata = dict(schema.metadata or {})
    metadata[PARTITIONS_KEY] = ",".join(map(str, listed)).encode()
    with _atomic_writer(path, schema.with_metadata(metadata), compression, direct) as writer:
        for expected, (p, rows) in zip(listed, parts, strict=True):
            if p != expected:
                raise SettleSystemError(
                    f"spill {path.name}: partition {p} written where {expected} was listed"
                )
            writer.write_table(rows)


def partitions_in(path: Path) -> list[int]:
    """The partitions a :func:`write_partitioned` file holds, in batch order."""
    with pa.memory_map(str(path)) as source:
        return _listed(ipc.open_file(source).schema)


def read_partition(path: Path, partition: int, will_need: bool = False) -> pa.Table | None:
    """Partition ``partition``'s rows in a :func:`write_partitioned` file (``None`` when the
    file has none).  Memory-mapped like :func:`read_spill`.

    With ``will_need``, the kernel is asked to read the batch's bytes ahead
    (``POSIX_FADV_WILLNEED``) before anything touches them: pieces are written around the page
    cache (:mod:`settle.cluster.direct_io`), so a validate task that reads one batch of each of
    many piece files would otherwise wait on the disk a page fault at a time; asking for every
    piece's batch first lets the reads run while the first ones are decoded."""
    with pa.memory_map(str(path)) as source:
        reader = ipc.open_file(source)
        listed = _listed(reader.schema)
        if partition not in listed:
            return None
        batch = reader.get_batch(listed.index(partition))
        if will_need:
            source.seek(0)
            _will_need(source.fileno(), batch, source.read_buffer(1).address)
    metadata = {k: v for k, v in (batch.schema.metadata or {}).items() if k != PARTITIONS_KEY}
    return pa.Table.from_batches([batch]).replace_schema_metadata(metadata or None)


def _will_need(fd: int, batch: pa.RecordBatch, base: int) -> None:
    """Advise the kernel that the bytes of ``batch`` (mapped from file ``fd`` at address ``base``)
    will be read soon.  Dictionaries are left out: they lie at the start of the file, apart."""
    spans = []
    for column in batch.columns:
        array = column.indices if isinstance(column, pa.DictionaryArray) else column
        spans += [(b.address, b.address + b.size) for b in array.buffers() if b is not None and b.size]
    if not spans or not hasattr(os, "posix_fadvise"):
        return
    start = min(a for a, _ in spans) - base
    stop = max(b for _, b in spans) - base
    os.posix_fadvise(fd, start, stop - start, os.POSIX_FADV_WILLNEED)


def _listed(schema: pa.Schema) -> list[int]:
    raw = (schema.metadata or {}).get(PARTITIONS_KEY)
    if raw is None:
        raise SettleSystemError("a spill file without its partition list was read as a partitioned one")
    return [int(p) for p in raw.decode().split(",")] if raw else []
